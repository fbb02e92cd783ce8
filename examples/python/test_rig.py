"""A test rig for a RedBear Duo's key lifecycle, written against the
duo_provisioning pytest fixtures: first boot (the firmware generates a key;
the cloud refuses it) → enter DFU → back the key up → reset it → boot (a new
key) → enter DFU → the new key differs → provision it with the cloud → boot
connects.

The ``duo_rig`` fixture is a virtual Duo whose server key block (DCT offset
2082) points at a local cloud that knows its device id, so every boot tries
that cloud (REFERENCE §5).

Run with `pytest examples/python` once `pip install ./bindings-python` is done;
`mypy --strict examples/python/test_rig.py` checks it against the stubs.
"""

from __future__ import annotations

from pathlib import Path

import duo_provisioning as duo
from duo_provisioning.pytest_plugin import DuoRig


def test_key_lifecycle(duo_rig: DuoRig, tmp_path: Path) -> None:
    vd = duo_rig.duo

    # First boot of a factory Duo: the key slot is erased, the firmware makes
    # a key; the cloud has never seen that key, so the handshake is refused.
    first = vd.boot()
    assert first.generated_key
    assert first.fingerprint is not None
    assert first.connection is not None
    assert first.connection.outcome == "rejected"

    # Back into DFU mode.
    vd.enter_dfu()
    assert vd.status().mode == "dfu"

    with duo.open_device(vd.selector) as dev:
        # Back the key up: in memory and as particle-cli's files.
        backup = dev.read_private_key()
        assert backup.fingerprint == first.fingerprint
        saved = dev.save_private_key(tmp_path / "backup")
        assert saved.fingerprint == first.fingerprint
        assert (tmp_path / "backup.der").read_bytes() == backup.der

        # Reset: the reset request over the slot (the key kept as a backup).
        reset = dev.reset_private_key(tmp_path / "before-reset", leave=False)
        assert reset.verified
        assert reset.backup is not None
        assert duo.inspect_key(dev.read_key_slot()).state == "reset-request"

    # Boot: the firmware sees the reset request and generates a new key.
    second = vd.boot()
    assert second.generated_key
    assert second.fingerprint is not None
    assert second.connection is not None
    assert second.connection.outcome == "rejected"

    # Enter DFU again: the new key differs from the backed-up one.
    vd.enter_dfu()
    with duo.open_device(vd.selector) as dev:
        new = dev.read_private_key()
    assert new.fingerprint == second.fingerprint
    assert new.fingerprint != backup.fingerprint
    assert new.der != backup.der

    # Provision the new public key with the rig's cloud, which knows this Duo.
    result = duo.provision(
        vd.device_id,
        duo_rig.token,
        public_key=new.der,
        api_url=duo_rig.cloud.url,
    )
    assert result.device_id == vd.device_id
    assert result.fingerprint == new.fingerprint
    assert duo_rig.cloud.public_key(vd.device_id) is not None

    # Boot: the cloud now holds the key, so the handshake succeeds.
    third = vd.boot()
    assert not third.generated_key
    assert third.fingerprint == new.fingerprint
    assert third.connection is not None
    assert third.connection.outcome == "connected"
