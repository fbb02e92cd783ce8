"""Type stubs of the native module (duo_provisioning._native)."""

import os
import pathlib
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union, final

from ._reports import (
    BatchReport,
    BootReport,
    CloudDevice,
    CloudRecord,
    CloudStats,
    DctReport,
    DeviceResult,
    DuoStatus,
    KeyReport,
    ListedDevice,
    LoadReport,
    PrivateKey,
    ProgressEvent,
    ProvisionResult,
    ResetReport,
    SaveReport,
    ServerKey,
)

_Path = Union[str, "os.PathLike[str]"]
_PublicKey = Union[bytes, str, "os.PathLike[str]"]

__all__ = [
    "__version__",
    "generate_key",
    "inspect_key",
    "format_server_key",
    "parse_server_key",
    "parse_dct",
    "list_devices",
    "open_device",
    "Device",
    "VirtualDuo",
    "LocalCloud",
    "provision",
    "provision_many",
]

__version__: str

def generate_key() -> bytes: ...
def inspect_key(data: bytes) -> KeyReport: ...
def format_server_key(
    public_key: Optional[bytes] = None,
    *,
    address: Optional[str] = None,
    port: Optional[int] = None,
) -> bytes: ...
def parse_server_key(block: bytes) -> ServerKey: ...
def parse_dct(data: bytes, *, platform: str = "duo") -> DctReport: ...
def list_devices(selector: Optional[str] = None) -> List[ListedDevice]: ...
def open_device(selector: Optional[str] = None) -> Device: ...
def provision(
    device_id: str,
    token: Optional[str] = None,
    *,
    product_id: int = 88,
    public_key: Optional[_PublicKey] = None,
    api_url: Optional[str] = None,
    timeout: float = 30.0,
    retries: int = 3,
) -> ProvisionResult: ...
def provision_many(
    items: Iterable[Union[str, Tuple[str, _PublicKey]]],
    token: Optional[str] = None,
    *,
    concurrency: int = 32,
    product_id: int = 88,
    api_url: Optional[str] = None,
    timeout: float = 30.0,
    retries: int = 3,
    on_result: Optional[Callable[[DeviceResult], Any]] = None,
    on_progress: Optional[Callable[[ProgressEvent], Any]] = None,
) -> BatchReport: ...

@final
class Device:
    @property
    def description(self) -> str: ...
    def read_key_slot(self) -> bytes: ...
    def save_private_key(self, base: _Path, *, force: bool = False) -> SaveReport: ...
    def read_private_key(self) -> PrivateKey: ...
    def write_private_key(
        self,
        key: Union[bytes, PrivateKey, _Path],
        *,
        backup_dir: _Path,
        on_progress: Optional[Callable[[ProgressEvent], Any]] = None,
    ) -> LoadReport: ...
    def reset_private_key(
        self,
        backup_name: _Path,
        *,
        leave: bool = True,
        on_progress: Optional[Callable[[ProgressEvent], Any]] = None,
    ) -> ResetReport: ...
    def write_server_key(self, block: bytes) -> ServerKey: ...
    def read_server_key(self) -> ServerKey: ...
    def read_dct(self) -> DctReport: ...
    def leave(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Device: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

@final
class VirtualDuo:
    @staticmethod
    def create(
        path: _Path,
        *,
        from_dct: Union[bytes, _Path, None] = None,
        device_id: Optional[str] = None,
        time_factor: float = 1.0,
        platform: str = "duo",
    ) -> VirtualDuo: ...
    @staticmethod
    def open(path: _Path) -> VirtualDuo: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def selector(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    def boot(self) -> BootReport: ...
    def enter_dfu(self) -> None: ...
    def status(self) -> DuoStatus: ...
    def arm_fault(self, spec: str) -> None: ...
    def clear_faults(self) -> None: ...
    def __enter__(self) -> VirtualDuo: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...

@final
class LocalCloud:
    def __new__(
        cls,
        tokens: Optional[List[str]] = None,
        devices: Optional[List[Union[str, Dict[str, Any]]]] = None,
        *,
        accounts: Optional[Dict[str, List[str]]] = None,
        addr: str = "127.0.0.1:0",
        state_dir: Optional[_Path] = None,
    ) -> LocalCloud: ...
    @property
    def url(self) -> str: ...
    @property
    def device_addr(self) -> str: ...
    def server_key_block(self) -> bytes: ...
    def add_token(self, token: str) -> None: ...
    def add_devices(self, devices: List[str]) -> int: ...
    def set_fault(self, fault: Optional[Dict[str, Any]] = None) -> None: ...
    def records(self) -> List[CloudRecord]: ...
    def devices(self) -> List[CloudDevice]: ...
    def public_key(self, device_id: str) -> Optional[str]: ...
    def stats(self) -> CloudStats: ...
    def close(self) -> None: ...
    def __enter__(self) -> LocalCloud: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool: ...
