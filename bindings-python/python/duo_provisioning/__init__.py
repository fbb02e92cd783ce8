"""duo-provisioning for Python: back up, restore, reset and cloud-provision the
device keys of RedBear Duo / Particle Photon and P1 boards over USB DFU, with a
virtual Duo and a local cloud for tests (and pytest fixtures for both).

A thin binding of the Rust core: every function below is the core's, every
blocking call releases the GIL, and every core error is a :class:`DuoError`.

    >>> import duo_provisioning as duo
    >>> result = duo.provision("2fff27fffc473530fff23637", token, api_url=cloud.url)
    >>> result.fingerprint
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Iterable, Optional, Tuple, Union

from ._errors import (
    CancelledError,
    CloudError,
    DctFormatError,
    DeviceGoneError,
    DeviceNotFoundError,
    DfuError,
    DuoError,
    InvalidDeviceIdError,
    InvalidTokenError,
    KeyFormatError,
    NotInDfuModeError,
    PermissionDeniedError,
    RateLimitedError,
)
from ._native import (
    Device,
    LocalCloud,
    VirtualDuo,
    __version__,
    format_server_key,
    generate_key,
    inspect_key,
    list_devices,
    open_device,
    parse_dct,
    parse_server_key,
    provision,
    provision_many,
)
from ._reports import (
    BatchReport,
    BatchSummary,
    BootReport,
    CloudDevice,
    CloudRecord,
    CloudStats,
    ConnectOutcome,
    DctReport,
    DeviceResult,
    DuoStatus,
    KeyReport,
    ListedDevice,
    LoadReport,
    PrivateKey,
    ProvisionResult,
    Report,
    ResetReport,
    SaveReport,
    ServerKey,
)



async def provision_async(
    device_id: str, token: Optional[str] = None, **options: Any
) -> ProvisionResult:
    """:func:`provision` for asyncio: runs in the loop's default executor
    (the GIL is released while it waits), so the event loop keeps running.
    Takes the same arguments; returns the same ``ProvisionResult``."""
    loop = asyncio.get_running_loop()
    call = functools.partial(provision, device_id, token, **options)
    return await loop.run_in_executor(None, call)


async def provision_many_async(
    items: Iterable[Union[str, Tuple[str, Any]]],
    token: Optional[str] = None,
    *,
    on_result: Optional[Callable[[DeviceResult], None]] = None,
    **options: Any,
) -> BatchReport:
    """:func:`provision_many` for asyncio: runs in the loop's default
    executor; ``on_result`` is called on the event loop's thread (through
    ``call_soon_threadsafe``) as each device finishes."""
    loop = asyncio.get_running_loop()
    relay: Optional[Callable[[DeviceResult], None]] = None
    if on_result is not None:
        callback = on_result

        def relay(result: DeviceResult) -> None:
            loop.call_soon_threadsafe(callback, result)

    call = functools.partial(provision_many, list(items), token, on_result=relay, **options)
    return await loop.run_in_executor(None, call)


__all__ = [
    "__version__",
    # keys and DCT
    "generate_key",
    "inspect_key",
    "format_server_key",
    "parse_server_key",
    "parse_dct",
    # devices
    "list_devices",
    "open_device",
    "Device",
    # simulators
    "VirtualDuo",
    "LocalCloud",
    # cloud
    "provision",
    "provision_many",
    "provision_async",
    "provision_many_async",
    # reports
    "Report",
    "KeyReport",
    "ServerKey",
    "DctReport",
    "BootReport",
    "ConnectOutcome",
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
    # exceptions
    "DuoError",
    "CloudError",
    "InvalidTokenError",
    "PermissionDeniedError",
    "DeviceNotFoundError",
    "RateLimitedError",
    "DfuError",
    "DeviceGoneError",
    "NotInDfuModeError",
    "KeyFormatError",
    "DctFormatError",
    "InvalidDeviceIdError",
    "CancelledError",
]
