"""VirtualDuo and LocalCloud as Python objects and context managers."""

from __future__ import annotations

from pathlib import Path

import pytest

import duo_provisioning as duo
from duo_provisioning.pytest_plugin import DuoRig

DEVICE_ID = "2fff27fffc473530fff23637"


def test_create_with_an_id_and_boot(tmp_path: Path) -> None:
    with duo.VirtualDuo.create(tmp_path / "d", device_id=DEVICE_ID, time_factor=0.001) as vd:
        assert vd.device_id == DEVICE_ID
        assert vd.selector == f"sim:{tmp_path / 'd'}"
        assert str(vd.path) == str(tmp_path / "d")
        status = vd.status()
        assert isinstance(status, duo.DuoStatus)
        assert (status.mode, status.connected, status.last_boot) == ("dfu", True, None)
        assert status.time_factor == 0.001
        first = vd.boot()
        assert isinstance(first, duo.BootReport)
        assert first.generated_key and first.slot_first_byte == 0xFF
        assert vd.status().mode == "firmware"
        assert vd.status().last_boot == first
        again = vd.boot()
        assert not again.generated_key and again.fingerprint == first.fingerprint
        vd.enter_dfu()
        assert vd.status().mode == "dfu"


def test_create_from_a_dct_file_and_bytes(tmp_path: Path, factory_dct: bytes) -> None:
    image = tmp_path / "fac.bin"
    image.write_bytes(factory_dct)
    from_file = duo.VirtualDuo.create(tmp_path / "a", from_dct=image, time_factor=0)
    from_bytes = duo.VirtualDuo.create(tmp_path / "b", from_dct=factory_dct, time_factor=0)
    for vd in (from_file, from_bytes):
        with duo.open_device(vd.selector) as dev:
            assert dev.read_dct().device_private_key == {"state": "erased"}


def test_open_an_existing_device(virtual_duo: duo.VirtualDuo) -> None:
    again = duo.VirtualDuo.open(virtual_duo.path)
    assert again.device_id == virtual_duo.device_id


def test_open_a_directory_that_is_no_device(tmp_path: Path) -> None:
    with pytest.raises(duo.DuoError) as caught:
        duo.VirtualDuo.open(tmp_path)
    assert caught.value.code == "NO_DEVICE"


def test_create_refuses_a_bad_device_id_and_time_factor(tmp_path: Path) -> None:
    with pytest.raises(duo.InvalidDeviceIdError):
        duo.VirtualDuo.create(tmp_path / "x", device_id="xyz")
    with pytest.raises(duo.DuoError) as caught:
        duo.VirtualDuo.create(tmp_path / "y", time_factor=-1.0)
    assert caught.value.code == "INVALID_ARGUMENT"


def test_create_refuses_a_wrong_sized_dct(tmp_path: Path) -> None:
    with pytest.raises(duo.DuoError) as caught:
        duo.VirtualDuo.create(tmp_path / "x", from_dct=b"\x00" * 100)
    assert caught.value.code == "INVALID_ARGUMENT"
    assert "32768" in caught.value.message


def test_arm_and_clear_faults(virtual_duo: duo.VirtualDuo) -> None:
    virtual_duo.arm_fault("write-error:1")
    assert virtual_duo.status().armed_faults == ["write-error:1"]
    virtual_duo.clear_faults()
    assert virtual_duo.status().armed_faults == []
    with pytest.raises(duo.DuoError) as caught:
        virtual_duo.arm_fault("explode:1")
    assert caught.value.code == "INVALID_ARGUMENT"


def test_local_cloud_seeds_counts_and_closes(cloud_token: str) -> None:
    with duo.LocalCloud(tokens=[cloud_token], devices=[DEVICE_ID]) as cloud:
        assert cloud.url.startswith("http://127.0.0.1:")
        assert [d.device_id for d in cloud.devices()] == [DEVICE_ID]
        assert cloud.add_devices([DEVICE_ID, "0" * 24]) == 1
        cloud.add_token("second-token-abcdef")
        duo.provision(DEVICE_ID, "second-token-abcdef", api_url=cloud.url)
        stats = cloud.stats()
        assert isinstance(stats, duo.CloudStats)
        assert (stats.accepted, stats.rejected) == (1, 0)
        assert isinstance(cloud.records()[0], duo.CloudRecord)
    with pytest.raises(RuntimeError, match="closed"):
        cloud.stats()
    cloud.close()  # idempotent


def test_local_cloud_refuses_bad_arguments() -> None:
    with pytest.raises(duo.InvalidDeviceIdError):
        duo.LocalCloud(devices=["nope"])
    with pytest.raises(ValueError, match="address"):
        duo.LocalCloud(addr="not-an-address")


def test_boot_reports_the_connection_the_rig_points_at_the_cloud(
    duo_rig: DuoRig, tmp_path: Path
) -> None:
    """REFERENCE §3, §5: the rig's Duo names the local cloud's device
    endpoint; its handshake is refused until the cloud holds its key."""
    vd, cloud = duo_rig.duo, duo_rig.cloud
    with duo.open_device(vd.selector) as dev:
        block = dev.read_server_key()
    host, port = cloud.device_addr.rsplit(":", 1)
    assert block.address == {"type": "ipv4", "value": host} and block.port == int(port)
    assert block == duo.parse_server_key(cloud.server_key_block())
    before = vd.boot()
    assert isinstance(before.connection, duo.ConnectOutcome)
    assert before.connection.outcome == "rejected"
    assert (before.connection.host, before.connection.port) == (host, int(port))
    assert before.connection.step is not None and before.connection.reason
    vd.enter_dfu()
    with duo.open_device(vd.selector) as dev:
        key = dev.read_private_key()
    duo.provision(vd.device_id, public_key=key.der)
    after = vd.boot()
    assert after.connection is not None and after.connection.outcome == "connected"
    assert vd.status().last_boot == after


def test_a_factory_duo_does_not_try_the_particle_cloud(virtual_duo: duo.VirtualDuo) -> None:
    """Without the rig, the server block names the real cloud (not loopback)."""
    outcome = virtual_duo.boot().connection
    assert outcome is not None and outcome.outcome == "not_tried"
    assert outcome.reason
