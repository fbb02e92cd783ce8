"""on_progress streams and Ctrl-C (KeyboardInterrupt) cancelling long
operations through the core's CancelToken: the slot holds one whole key
afterwards (REFERENCE §2, the key slot at DCT offset 34).

Ctrl-C is made deterministic: the test's SIGINT handler records that it ran
and raises KeyboardInterrupt; the callback that triggers the signal
(`_thread.interrupt_main`) waits until the handler ran, and the binding
cancels the core's token before it lets the callback return."""

from __future__ import annotations

import _thread
import signal
import threading
from itertools import groupby
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest

import duo_provisioning as duo

TOKEN = "progress-test-token-0123456789"


def booted(vd: duo.VirtualDuo) -> bytes:
    """Boot once (the firmware makes a key), back to DFU; the slot's 612 bytes."""
    vd.boot()
    vd.enter_dfu()
    with duo.open_device(vd.selector) as dev:
        return dev.read_key_slot()


def slot_of(der: bytes) -> bytes:
    """The 612 slot bytes the firmware reads for a loaded key: the PKCS#1 DER
    padded with 0xFF (REFERENCE §2)."""
    return der + b"\xff" * (612 - len(der))


def check_stream(events: List[duo.ProgressEvent], unit: str) -> List[str]:
    """Every phase's events: from 0, `done` never going back, ending at
    `total`; returns the phases in order."""
    assert events, "no progress event"
    phases = []
    for phase, run in groupby(events, key=lambda e: e.phase):
        steps = list(run)
        phases.append(phase)
        dones = [e.done for e in steps]
        assert dones == sorted(dones), (phase, dones)
        assert steps[0].done == 0, (phase, dones)
        assert len({e.total for e in steps}) == 1, phase
        assert dones[-1] == steps[0].total, (phase, dones)
        assert {e.unit for e in steps} == {unit}
    return phases


@pytest.fixture
def sigint_handled() -> Iterator[threading.Event]:
    """A SIGINT handler that sets the event, then raises KeyboardInterrupt."""
    handled = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        handled.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield handled
    finally:
        signal.signal(signal.SIGINT, previous)


def ctrl_c_once(handled: threading.Event, when: Callable[[Any], bool]) -> Callable[[Any], None]:
    """A callback that presses Ctrl-C the first time `when(value)` holds and
    returns only once the main thread has handled it."""
    pressed = threading.Event()

    def callback(value: Any) -> None:
        if not pressed.is_set() and when(value):
            pressed.set()
            _thread.interrupt_main()
            assert handled.wait(30), "the main thread never handled SIGINT"

    return callback


def test_write_private_key_progress(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    booted(virtual_duo)
    events: List[duo.ProgressEvent] = []
    with duo.open_device(virtual_duo.selector) as dev:
        dev.write_private_key(duo.generate_key(), backup_dir=tmp_path, on_progress=events.append)
    assert all(isinstance(e, duo.ProgressEvent) for e in events)
    phases = check_stream(events, "bytes")
    assert "write" in phases and "verify" in phases
    assert phases.index("backup") < phases.index("write") < phases.index("verify")
    assert events[0].to_dict().keys() == {"phase", "done", "total", "unit"}


def test_reset_private_key_progress(virtual_duo: duo.VirtualDuo, tmp_path: Path) -> None:
    booted(virtual_duo)
    events: List[duo.ProgressEvent] = []
    with duo.open_device(virtual_duo.selector) as dev:
        dev.reset_private_key(tmp_path / "before", leave=False, on_progress=events.append)
        assert duo.inspect_key(dev.read_key_slot()).state == "reset-request"
    phases = check_stream(events, "bytes")
    assert phases.index("write") < phases.index("verify")


def test_provision_many_progress() -> None:
    ids = [f"2fff27fffc473530fff2{n:04x}" for n in range(12)]
    events: List[duo.ProgressEvent] = []
    with duo.LocalCloud(tokens=[TOKEN], devices=ids) as cloud:
        batch = duo.provision_many(
            ids, TOKEN, api_url=cloud.url, concurrency=4, on_progress=events.append
        )
    assert batch.summary.ok == len(ids)
    assert check_stream(events, "devices") == ["provision"]
    assert [e.done for e in events] == list(range(len(ids) + 1))
    assert events[-1].total == len(ids)


def test_ctrl_c_during_the_key_write_leaves_one_whole_key(
    virtual_duo: duo.VirtualDuo, tmp_path: Path, sigint_handled: threading.Event
) -> None:
    old = booted(virtual_duo)
    new = duo.generate_key()
    on_progress = ctrl_c_once(sigint_handled, lambda e: e.phase == "write")
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(KeyboardInterrupt) as caught:
            dev.write_private_key(new, backup_dir=tmp_path, on_progress=on_progress)
        slot = dev.read_key_slot()
    assert sigint_handled.is_set()
    assert slot in (old, slot_of(new))
    cause = caught.value.__cause__
    assert isinstance(cause, duo.CancelledError) and cause.code == "CANCELLED"
    # The backup of the old key is there whatever the slot holds.
    (backup,) = tmp_path.glob("backup_rsa_*.der")
    assert duo.inspect_key(backup.read_bytes()).fingerprint == duo.inspect_key(old).fingerprint


def test_ctrl_c_during_the_reset_leaves_the_key_or_the_whole_request(
    virtual_duo: duo.VirtualDuo, tmp_path: Path, sigint_handled: threading.Event
) -> None:
    old = booted(virtual_duo)
    on_progress = ctrl_c_once(sigint_handled, lambda e: e.phase == "write")
    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(KeyboardInterrupt):
            dev.reset_private_key(tmp_path / "before", leave=False, on_progress=on_progress)
        slot = dev.read_key_slot()
    assert slot == old or duo.inspect_key(slot).state == "reset-request"
    assert virtual_duo.status().mode == "dfu"


def test_a_raising_on_progress_cancels_and_is_raised(
    virtual_duo: duo.VirtualDuo, tmp_path: Path
) -> None:
    old = booted(virtual_duo)
    new = duo.generate_key()

    def stop(event: duo.ProgressEvent) -> None:
        if event.phase == "write":
            raise ValueError("stop here")

    with duo.open_device(virtual_duo.selector) as dev:
        with pytest.raises(ValueError, match="stop here") as caught:
            dev.write_private_key(new, backup_dir=tmp_path, on_progress=stop)
        assert dev.read_key_slot() in (old, slot_of(new))
    assert isinstance(caught.value.__cause__, duo.CancelledError)


def test_ctrl_c_during_provision_many_stops_the_batch(sigint_handled: threading.Event) -> None:
    ids = [f"2fff27fffc473530fff2{n:04x}" for n in range(20)]
    on_result = ctrl_c_once(sigint_handled, lambda r: True)
    with duo.LocalCloud(tokens=[TOKEN], devices=ids) as cloud:
        with pytest.raises(KeyboardInterrupt):
            duo.provision_many(ids, TOKEN, api_url=cloud.url, concurrency=1, on_result=on_result)
        # One device answered before Ctrl-C; at most the one in flight then.
        assert 1 <= len(cloud.records()) <= 2


def test_ctrl_c_during_provision_drops_the_request(sigint_handled: threading.Event) -> None:
    device_id = "2fff27fffc473530fff23637"
    with duo.LocalCloud(tokens=[TOKEN], devices=[device_id]) as cloud:
        # The cloud holds the request; Ctrl-C once it has arrived.
        cloud.set_fault({"kind": "delay", "ms": 600_000})

        def press_when_held() -> None:
            while cloud.stats().requests == 0:
                threading.Event().wait(0.01)
            _thread.interrupt_main()

        presser = threading.Thread(target=press_when_held)
        presser.start()
        with pytest.raises(KeyboardInterrupt) as caught:
            duo.provision(device_id, TOKEN, api_url=cloud.url, timeout=900)
        presser.join()
    cause = caught.value.__cause__
    assert isinstance(cause, duo.DuoError) and cause.code == "CANCELLED"
