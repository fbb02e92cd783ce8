"""pytest fixtures for test rigs, installed with the package (entry point
``pytest11``), so a test only names them::

    def test_first_boot(virtual_duo, local_cloud):
        assert virtual_duo.boot().generated_key
        result = duo_provisioning.provision(virtual_duo.device_id)

- ``virtual_duo``: a fresh factory Duo (erased key slot, DFU mode) in the
  test's temporary directory, with a small time factor;
- ``local_cloud``: a local cloud on loopback with one account (``ACCOUNT``,
  whose token is ``cloud_token``) that owns the virtual Duo; while the test runs,
  ``PARTICLE_ACCESS_TOKEN`` and ``PARTICLE_API_URL`` point at it, so
  ``provision()`` needs no token or URL;
- ``duo_rig``: both, as a :class:`DuoRig`, with the Duo's server key block
  (DCT offset 2082) pointing at the local cloud's device endpoint, so
  ``duo_rig.duo.boot().connection`` is ``rejected`` before the Duo's key is
  provisioned and ``connected`` after;
- ``cloud_token``: the access token the local cloud accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ._native import LocalCloud, VirtualDuo, open_device

#: Busy times of the virtual Duo are scaled by this (1.0 = real timing).
TIME_FACTOR = 0.001

#: The fixtures' local cloud account, and its access token.
ACCOUNT = "rig"
TOKEN = "duo-rig-test-token-0123456789abcdef"


@dataclass(frozen=True)
class DuoRig:
    """A virtual Duo and a local cloud that knows it; the Duo's server key
    block names the cloud, so its boots connect there."""

    duo: VirtualDuo
    cloud: LocalCloud
    token: str


@pytest.fixture
def cloud_token() -> str:
    """The access token the ``local_cloud`` fixture accepts."""
    return TOKEN


@pytest.fixture
def virtual_duo(tmp_path: Path) -> Iterator[VirtualDuo]:
    """A fresh factory virtual Duo in DFU mode in a temporary directory."""
    with VirtualDuo.create(tmp_path / "virtual-duo", time_factor=TIME_FACTOR) as duo:
        yield duo


@pytest.fixture
def local_cloud(
    virtual_duo: VirtualDuo, cloud_token: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LocalCloud]:
    """A local cloud whose account ``ACCOUNT`` (token ``cloud_token``) owns
    ``virtual_duo``; the environment points ``provision()`` at it for the test."""
    seeded = {"device_id": virtual_duo.device_id, "account": ACCOUNT}
    with LocalCloud(accounts={ACCOUNT: [cloud_token]}, devices=[seeded]) as cloud:
        monkeypatch.setenv("PARTICLE_ACCESS_TOKEN", cloud_token)
        monkeypatch.setenv("PARTICLE_API_URL", cloud.url)
        yield cloud


@pytest.fixture
def duo_rig(virtual_duo: VirtualDuo, local_cloud: LocalCloud, cloud_token: str) -> DuoRig:
    """``virtual_duo`` and ``local_cloud`` together, the Duo's server key
    block (REFERENCE §3) pointing at the cloud's device endpoint."""
    with open_device(virtual_duo.selector) as device:
        device.write_server_key(local_cloud.server_key_block())
    return DuoRig(duo=virtual_duo, cloud=local_cloud, token=cloud_token)
