"""Devices by selector: listing, opening, key and DCT work on a virtual Duo."""

from __future__ import annotations

from pathlib import Path

import pytest

import duo_provisioning as duo


def booted(vd: duo.VirtualDuo) -> str:
    """Boot (the firmware makes a key), back to DFU; the key's fingerprint."""
    fingerprint = vd.boot().fingerprint
    vd.enter_dfu()
    assert fingerprint is not None
    return fingerprint


def test_list_devices_of_a_sim_selector(virtual_duo: duo.VirtualDuo) -> None:
    (listed,) = duo.list_devices(virtual_duo.selector)
    assert isinstance(listed, duo.ListedDevice)
    assert listed.selector == virtual_duo.selector
    assert listed.virtual and listed.platform == "duo"
    assert listed.usb_id == "2b04:d058"


def test_invalid_selector_is_refused() -> None:
    with pytest.raises(duo.DuoError) as caught:
        duo.open_device("bogus:thing")
    assert caught.value.code == "INVALID_ARGUMENT"


def test_device_in_firmware_mode_raises_not_in_dfu_mode(virtual_duo: duo.VirtualDuo) -> None:
    virtual_duo.boot()
    with pytest.raises(duo.NotInDfuModeError) as caught:
        duo.open_device(virtual_duo.selector)
    assert caught.value.code == "NOT_IN_DFU_MODE"
    assert isinstance(caught.value, duo.DfuError)


def test_read_dct_and_key_slot(virtual_duo: duo.VirtualDuo) -> None:
    fingerprint = booted(virtual_duo)
    with duo.open_device(virtual_duo.selector) as dev:
        assert "virtual" in dev.description
        report = dev.read_dct()
        assert report.kind == "app"
        assert report.device_private_key["state"] == "valid"
        slot = dev.read_key_slot()
        assert len(slot) == 612
        assert duo.inspect_key(slot).fingerprint == fingerprint
    with pytest.raises(RuntimeError, match="closed"):
        dev.read_dct()


def test_save_write_and_reset_the_key(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    first = booted(virtual_duo)
    other = tmp_path / "other.der"
    other.write_bytes(duo.generate_key())
    with duo.open_device(virtual_duo.selector) as dev:
        saved = dev.save_private_key(tmp_path / "mine")
        assert isinstance(saved, duo.SaveReport) and saved.fingerprint == first
        assert (tmp_path / "mine.der").stat().st_mode & 0o777 == 0o600
        with pytest.raises(duo.DuoError):
            dev.save_private_key(tmp_path / "mine")
        loaded = dev.write_private_key(other, backup_dir=tmp_path)
        assert isinstance(loaded, duo.LoadReport)
        assert loaded.verified and loaded.fingerprint == duo.inspect_key(other.read_bytes()).fingerprint
        backup = Path(loaded.backup)
        assert backup.parent == tmp_path and duo.inspect_key(backup.read_bytes()).fingerprint == first
        reset = dev.reset_private_key(tmp_path / "before-reset", leave=True)
        assert isinstance(reset, duo.ResetReport)
        assert reset.verified and reset.left_dfu and reset.backup is not None
    regenerated = virtual_duo.status()
    assert regenerated.mode == "firmware"


def test_a_failed_write_restores_the_old_key(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    first = booted(virtual_duo)
    key = tmp_path / "new.der"
    key.write_bytes(duo.generate_key())
    virtual_duo.arm_fault("write-error:1")
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(duo.DuoError) as caught:
            dev.write_private_key(key, backup_dir=tmp_path)
        assert "backup" in caught.value.message or "previous" in caught.value.message
        assert duo.inspect_key(dev.read_key_slot()).fingerprint == first


def test_server_key_on_the_device(virtual_duo: duo.VirtualDuo) -> None:
    block = duo.format_server_key(address="127.0.0.1", port=5683)
    with duo.open_device(virtual_duo.selector) as dev:
        written = dev.write_server_key(block)
        assert written.address == {"type": "ipv4", "value": "127.0.0.1"}
        assert dev.read_server_key() == written


def test_bad_key_file_raises_key_format_error(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    bad = tmp_path / "bad.der"
    bad.write_bytes(b"not a key")
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(duo.KeyFormatError):
            dev.write_private_key(bad, backup_dir=tmp_path)


def test_read_private_key_in_memory(virtual_duo: duo.VirtualDuo) -> None:
    fingerprint = booted(virtual_duo)
    with duo.open_device(virtual_duo.selector) as dev:
        key = dev.read_private_key()
    assert isinstance(key, duo.PrivateKey)
    assert key.fingerprint == fingerprint and key.bits == 1024
    assert isinstance(key.report, duo.KeyReport) and key.report.state == "valid"
    assert bytes(key) == key.der
    assert duo.inspect_key(key.der).fingerprint == fingerprint
    assert duo.inspect_key(key.pem.encode()).fingerprint == fingerprint
    # Its repr never shows key material.
    assert key.pem not in repr(key) and key.der.hex() not in repr(key)


def test_read_private_key_of_an_erased_slot_raises(virtual_duo: duo.VirtualDuo) -> None:
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(duo.DuoError) as caught:
            dev.read_private_key()
    assert caught.value.code == "SLOT_EMPTY"


def key_in_form(form: str, der: bytes, tmp_path: Path) -> object:
    """`der` as write_private_key may be given it."""
    if form == "der":
        return der
    if form == "pem":
        # PEM text of the same key, through a board that holds it.
        with duo.VirtualDuo.create(tmp_path / "pem-source", time_factor=0.001) as src:
            with duo.open_device(src.selector) as dev:
                dev.write_private_key(der, backup_dir=tmp_path)
                return dev.read_private_key().pem.encode()
    if form == "private_key":
        with duo.VirtualDuo.create(tmp_path / "source", time_factor=0.001) as src:
            with duo.open_device(src.selector) as dev:
                dev.write_private_key(der, backup_dir=tmp_path)
                return dev.read_private_key()
    path = tmp_path / "new.der"
    path.write_bytes(der)
    return path


@pytest.mark.parametrize("form", ["der", "pem", "private_key", "path"])
def test_write_private_key_takes_bytes_a_private_key_or_a_path(
    virtual_duo: duo.VirtualDuo, tmp_path: Path, form: str
) -> None:
    first = booted(virtual_duo)
    der = duo.generate_key()
    want = duo.inspect_key(der).fingerprint
    key = key_in_form(form, der, tmp_path)
    backups = tmp_path / "backups"
    backups.mkdir()
    with duo.open_device(virtual_duo.selector) as dev:
        loaded = dev.write_private_key(key, backup_dir=backups)  # type: ignore[arg-type]
        assert loaded.verified and loaded.fingerprint == want
        assert Path(loaded.backup).parent == backups
        assert duo.inspect_key(Path(loaded.backup).read_bytes()).fingerprint == first
        assert dev.read_private_key().der == der


def test_write_private_key_refuses_other_types(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(TypeError, match="bytes"):
            dev.write_private_key(42, backup_dir=tmp_path)  # type: ignore[arg-type]
