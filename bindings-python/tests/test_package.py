"""The package itself: names, docstrings, module names, the pytest plugin."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import duo_provisioning as duo
from duo_provisioning.pytest_plugin import DuoRig


def test_every_public_name_has_a_docstring() -> None:
    missing = [name for name in duo.__all__ if name != "__version__" and not inspect.getdoc(getattr(duo, name))]
    assert missing == []


def test_public_methods_have_docstrings() -> None:
    missing = []
    for cls in (duo.VirtualDuo, duo.LocalCloud, duo.Device):
        for name, member in vars(cls).items():
            if not name.startswith("_") and not inspect.getdoc(member):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


def test_help_of_provision_names_its_arguments() -> None:
    text = inspect.getdoc(duo.provision) or ""
    for word in ("device_id", "token", "public_key", "api_url", "PermissionDeniedError"):
        assert word in text
    assert "product_id" in str(inspect.signature(duo.provision))


def test_classes_belong_to_the_package() -> None:
    for cls in (duo.VirtualDuo, duo.LocalCloud, duo.Device):
        assert cls.__module__ == "duo_provisioning"


def test_typed_marker_and_stubs_are_installed() -> None:
    package = Path(duo.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_native.pyi").exists()


def test_version() -> None:
    assert duo.__version__.count(".") == 2


def test_fixtures(virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud, duo_rig: DuoRig) -> None:
    assert duo_rig.duo is virtual_duo and duo_rig.cloud is local_cloud
    assert virtual_duo.status().mode == "dfu"
    assert virtual_duo.status().time_factor < 0.1
    assert [d.device_id for d in local_cloud.devices()] == [virtual_duo.device_id]
    assert duo.provision(virtual_duo.device_id).device_id == virtual_duo.device_id


def test_fixture_duo_is_in_the_test_directory(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    assert Path(virtual_duo.path).parent == tmp_path
