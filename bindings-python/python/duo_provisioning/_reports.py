"""Typed views of the core's reports.

Each class holds exactly what the core reports (the same shape the ``duoprov``
CLI prints with ``--json``): every field is an attribute, ``to_dict()`` gives
the whole report as plain data. Reports compare equal when their data does.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Type

__all__ = [
    "Report",
    "KeyReport",
    "ServerKey",
    "DctReport",
    "ConnectOutcome",
    "BootReport",
    "DuoStatus",
    "ListedDevice",
    "PrivateKey",
    "SaveReport",
    "LoadReport",
    "ResetReport",
    "ProvisionResult",
    "DeviceResult",
    "BatchSummary",
    "BatchReport",
    "CloudRecord",
    "CloudDevice",
    "CloudStats",
]


class Report:
    """Base of every report: attributes from the data, ``to_dict()``."""

    #: Fields holding nested reports (a report, or a list of them).
    _nested: ClassVar[Dict[str, Type["Report"]]] = {}

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)
        for cls in reversed(type(self).__mro__):
            for name, hint in vars(cls).get("__annotations__", {}).items():
                if name.startswith("_") or "ClassVar" in str(hint):
                    continue
                value = self._data.get(name)
                nested = type(self)._nested.get(name)
                if nested is not None and isinstance(value, list):
                    value = [nested(v) for v in value]
                elif nested is not None and isinstance(value, Mapping):
                    value = nested(value)
                setattr(self, name, value)

    def to_dict(self) -> Dict[str, Any]:
        """The report as plain data (dicts, lists, str, int, float, bool, None)."""
        return copy.deepcopy(self._data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Report) and type(other) is type(self) and other._data == self._data

    def __hash__(self) -> int:
        return hash((type(self).__name__, repr(sorted(self._data.items()))))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._data.items())
        return f"{type(self).__name__}({fields})"


class KeyReport(Report):
    """What key bytes hold (``inspect_key``). ``state``: ``valid``,
    ``erased``, ``reset-request`` or ``corrupt`` (with ``reason``)."""

    kind: Optional[str]
    state: str
    bits: Optional[int]
    reason: Optional[str]
    format: Optional[str]
    fingerprint: Optional[str]
    public_exponent: Optional[str]
    notes: Optional[List[str]]


class ServerKey(Report):
    """A server key block (REFERENCE §3): the key and where the firmware
    connects. ``address``/``stored_address`` are ``{"type": "ipv4"|"domain",
    "value": …}``; ``stored_*`` is ``None`` where the firmware uses its default."""

    key_bits: int
    fingerprint: str
    address: Dict[str, Any]
    port: int
    stored_address: Optional[Dict[str, Any]]
    stored_port: Optional[int]


class DctReport(Report):
    """A DCT explained (``parse_dct``, ``Device.read_dct``): both key slots
    classified, the server block parsed, every field decoded."""

    platform: str
    kind: str
    size: int
    current_partition: Optional[int]
    partitions: Optional[List[Dict[str, Any]]]
    bootloader_version: int
    device_id: Optional[str]
    device_private_key: Dict[str, Any]
    device_public_key: Dict[str, Any]
    server: Dict[str, Any]
    fields: List[Dict[str, Any]]
    warnings: List[str]


class ConnectOutcome(Report):
    """How a virtual Duo's cloud connection at boot ended (REFERENCE §5).
    ``outcome``: ``connected`` (handshake and Hello done; ``pings``
    keep-alives answered), ``rejected`` (refused or failed at ``step``, see
    ``reason``) or ``not_tried`` (a server that is not on loopback)."""

    outcome: str
    host: str
    port: int
    pings: Optional[int]
    step: Optional[str]
    reason: Optional[str]


class BootReport(Report):
    """What the firmware did at boot: the key slot rule (``generated_key``,
    ``fingerprint`` of the key it then holds) and the cloud ``connection``
    it tried (``None`` when the boot did not get that far)."""

    _nested = {"connection": ConnectOutcome}

    slot_first_byte: int
    generated_key: bool
    fingerprint: Optional[str]
    reset_after_key: bool
    public_key_rewritten: bool
    connection: Optional[ConnectOutcome]


class DuoStatus(Report):
    """A virtual Duo's state (``VirtualDuo.status``). ``mode``: ``dfu`` or
    ``firmware``."""

    _nested = {"last_boot": BootReport}

    dir: str
    platform: str
    bootloader: str
    firmware: Optional[str]
    mode: str
    connected: bool
    device_id: str
    time_factor: float
    armed_faults: List[str]
    fired_faults: List[str]
    last_boot: Optional[BootReport]
    last_boot_error: Optional[str]
    serial_port: Optional[str]
    stats: Dict[str, int]


class ListedDevice(Report):
    """A board in DFU mode (``list_devices``); ``selector`` opens it."""

    selector: str
    usb_id: str
    vid: int
    pid: int
    version: str
    platform: str
    name: str
    serial: Optional[str]
    alt_settings: List[Dict[str, Any]]
    virtual: bool


class PrivateKey(Report):
    """A device key read into memory (``Device.read_private_key``): ``der``
    (PKCS#1 DER bytes, the form ``generate_key`` returns and
    ``Device.write_private_key`` takes), ``pem``, ``bits``, ``fingerprint``
    (SHA-256 of the public key) and ``report`` (its ``KeyReport``).
    ``bytes(key)`` is ``key.der``."""

    _nested = {"report": KeyReport}

    der: bytes
    pem: str
    bits: int
    fingerprint: str
    report: KeyReport

    def __bytes__(self) -> bytes:
        return self.der

    def __repr__(self) -> str:
        # Never print key material.
        return f"PrivateKey(bits={self.bits}, fingerprint={self.fingerprint!r})"


class SaveReport(Report):
    """The key files ``Device.save_private_key`` wrote."""

    files: Dict[str, str]
    bits: int
    fingerprint: str


class LoadReport(Report):
    """What ``Device.write_private_key`` did: the key written and verified,
    what the slot held before and where its backup is."""

    file: str
    bits: int
    fingerprint: str
    bytes_written: int
    verified: bool
    previous: Dict[str, Any]
    backup: str
    backup_kind: str
    notes: List[str]


class ResetReport(Report):
    """What ``Device.reset_private_key`` did."""

    previous: Dict[str, Any]
    backup: Optional[str]
    backup_kind: Optional[str]
    bytes_written: int
    verified: bool
    left_dfu: bool
    next_step: str


class ProvisionResult(Report):
    """A confirmed provisioning (``provision``): the device, the fingerprint
    of the key the cloud now holds, the requests it took."""

    device_id: str
    attempts: int
    fingerprint: str
    product_id: int
    order: str
    response: Dict[str, Any]
    key_source: Dict[str, Any]


class DeviceResult(Report):
    """One device of ``provision_many``: ``ok``, or ``error`` and ``error_kind``."""

    line: int
    device_id: str
    ok: bool
    attempts: int
    latency_ms: float
    fingerprint: str
    error: Optional[str]
    error_kind: Optional[str]


class BatchSummary(Report):
    """Totals of a ``provision_many`` run."""

    total: int
    ok: int
    failed: int
    attempts: int
    concurrency: int
    elapsed_secs: float
    rate_per_sec: float
    p50_ms: float
    p99_ms: float


class BatchReport(Report):
    """``provision_many``'s result: every device's result and the summary."""

    _nested = {"results": DeviceResult, "summary": BatchSummary}

    results: List[DeviceResult]
    summary: BatchSummary


class CloudRecord(Report):
    """A provisioning the local cloud accepted."""

    device_id: str
    public_key: str
    product_id: Optional[int]
    order: Optional[str]
    filename: Optional[str]
    algorithm: str
    time: int


class CloudDevice(Report):
    """A device seeded in the local cloud and the key it holds."""

    device_id: str
    public_key: Optional[str]
    provisioned: int


class CloudStats(Report):
    """The local cloud's request counters."""

    requests: int
    provisioning_requests: int
    accepted: int
    rejected: int
    faulted: int
