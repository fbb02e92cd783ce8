"""The exceptions of duo_provisioning.

Every error of the core arrives as a :class:`DuoError` subclass chosen by its
stable ``code`` (the core's ``ErrorCode`` string, SCREAMING_SNAKE). The
message names what failed, the value and the next step; ``remedy`` is that
next step alone, in this package's names; the error's facts (``device_id``,
``retry_after``, ``http_status``, ``backup``, ``step``, ``status``, …) are
attributes. No message or
attribute ever holds an access token.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Type

from ._remedies import render

__all__ = [
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


_RESERVED = frozenset({"code", "message", "remedy", "fields", "args", "with_traceback"})


class DuoError(Exception):
    """Base of every error raised by duo_provisioning.

    Attributes: ``code`` (stable string such as ``"PERMISSION_DENIED"``),
    ``message`` (the full text), ``remedy`` (the next step, or ``None``) and
    ``fields`` (a dict of the error's facts, each also an attribute).
    """

    code: str
    message: str
    remedy: Optional[str]
    fields: Dict[str, Any]

    def __init__(
        self,
        message: str,
        code: str = "UNKNOWN",
        remedy: Optional[str] = None,
        fields: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.remedy = remedy
        self.fields = dict(fields or {})
        for name, value in self.fields.items():
            if name not in _RESERVED:
                setattr(self, name, value)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class CloudError(DuoError):
    """The cloud could not be reached or refused the request (codes
    ``SERVER_ERROR``, ``BAD_RESPONSE``, ``CLOUD_REJECTED``, ``NETWORK``,
    ``TIMEOUT``, ``INVALID_URL``, and the subclasses' codes)."""


class InvalidTokenError(CloudError):
    """``INVALID_TOKEN`` (malformed, unknown or expired) or ``NO_TOKEN`` (none
    given and none found): the access token cannot be used."""


class PermissionDeniedError(CloudError):
    """``PERMISSION_DENIED``: the cloud refused this device (HTTP 403): it has
    not had its initial provisioning, or the account may not provision it.
    ``device_id`` names it."""

    device_id: str


class DeviceNotFoundError(CloudError):
    """``DEVICE_NOT_FOUND``: the cloud does not know the device (HTTP 404)."""

    device_id: str


class RateLimitedError(CloudError):
    """``RATE_LIMITED``: HTTP 429 after every allowed attempt. ``retry_after``
    is the wait in seconds the cloud asked for, or ``None``."""

    retry_after: Optional[float] = None


class DfuError(DuoError):
    """A USB DFU operation failed (codes ``DFU_STALL``, ``DFU_STATUS``,
    ``DFU_READ_ONLY``, ``NO_DEVICE``, ``MULTIPLE_DEVICES``, ``DEVICE_BUSY``,
    ``VERIFY_FAILED``, ``BACKUP_FAILED``, ``SLOT_EMPTY``, ``SLOT_CORRUPT`` and
    the subclasses' codes)."""


class DeviceGoneError(DfuError):
    """``DEVICE_GONE``: the board disconnected during the operation."""


class NotInDfuModeError(DfuError):
    """``NOT_IN_DFU_MODE``: the board runs its firmware; put it in DFU mode
    (``VirtualDuo.enter_dfu()`` for a virtual one)."""


class KeyFormatError(DuoError, ValueError):
    """``INVALID_KEY``, ``KEY_TOO_LARGE`` or ``INVALID_SERVER_KEY``: key bytes,
    a key file or a server key block that cannot be used."""


class DctFormatError(DuoError, ValueError):
    """``INVALID_DCT``: a DCT dump or field that cannot be used."""


class InvalidDeviceIdError(DuoError, ValueError):
    """``INVALID_DEVICE_ID``: not 24 hexadecimal digits."""


class CancelledError(DuoError):
    """``CANCELLED``: the operation was cancelled; the device holds one whole
    key (the old or the new one) and any backup is intact."""


_BY_CODE: Dict[str, Type[DuoError]] = {
    "INVALID_TOKEN": InvalidTokenError,
    "PERMISSION_DENIED": PermissionDeniedError,
    "DEVICE_NOT_FOUND": DeviceNotFoundError,
    "RATE_LIMITED": RateLimitedError,
    "NO_TOKEN": InvalidTokenError,
    "SERVER_ERROR": CloudError,
    "CLOUD_REJECTED": CloudError,
    "INVALID_URL": CloudError,
    "BAD_RESPONSE": CloudError,
    "NETWORK": CloudError,
    "TIMEOUT": CloudError,
    "CANCELLED": CancelledError,
    "INVALID_DEVICE_ID": InvalidDeviceIdError,
    "INVALID_KEY": KeyFormatError,
    "KEY_TOO_LARGE": KeyFormatError,
    "INVALID_SERVER_KEY": KeyFormatError,
    "INVALID_DCT": DctFormatError,
    "NO_DEVICE": DfuError,
    "MULTIPLE_DEVICES": DfuError,
    "NOT_IN_DFU_MODE": NotInDfuModeError,
    "DEVICE_BUSY": DfuError,
    "DEVICE_GONE": DeviceGoneError,
    "DFU_STALL": DfuError,
    "DFU_STATUS": DfuError,
    "DFU_READ_ONLY": DfuError,
    "SLOT_EMPTY": DfuError,
    "SLOT_CORRUPT": DfuError,
    "VERIFY_FAILED": DfuError,
    "BACKUP_FAILED": DfuError,
}


def from_core(
    code: str,
    message: str,
    remedy: Optional[Mapping[str, Any]],
    neutral_remedy: Optional[str],
    fields: Mapping[str, Any],
) -> DuoError:
    """The exception for a core error (called by the native module): the class
    chosen by ``code``, the core's ``Remedy`` worded with this package's names."""
    worded = render(remedy, neutral_remedy)
    return _BY_CODE.get(code, DuoError)(message, code, worded, fields)
