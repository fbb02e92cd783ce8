"""The exception hierarchy and how core errors become exceptions."""

from __future__ import annotations

import pytest

import duo_provisioning as duo
from duo_provisioning._errors import from_core

HIERARCHY = {
    duo.CloudError: duo.DuoError,
    duo.InvalidTokenError: duo.CloudError,
    duo.PermissionDeniedError: duo.CloudError,
    duo.DeviceNotFoundError: duo.CloudError,
    duo.RateLimitedError: duo.CloudError,
    duo.DfuError: duo.DuoError,
    duo.DeviceGoneError: duo.DfuError,
    duo.NotInDfuModeError: duo.DfuError,
    duo.KeyFormatError: duo.DuoError,
    duo.DctFormatError: duo.DuoError,
    duo.InvalidDeviceIdError: duo.DuoError,
    duo.CancelledError: duo.DuoError,
}


@pytest.mark.parametrize("cls,base", HIERARCHY.items(), ids=lambda c: getattr(c, "__name__", ""))
def test_every_exception_has_its_base(cls: type, base: type) -> None:
    assert issubclass(cls, base) and issubclass(cls, Exception)
    assert cls.__doc__


@pytest.mark.parametrize(
    "code,cls",
    [
        ("INVALID_TOKEN", duo.InvalidTokenError),
        ("PERMISSION_DENIED", duo.PermissionDeniedError),
        ("DEVICE_NOT_FOUND", duo.DeviceNotFoundError),
        ("RATE_LIMITED", duo.RateLimitedError),
        ("SERVER_ERROR", duo.CloudError),
        ("NETWORK", duo.CloudError),
        ("DFU_STATUS", duo.DfuError),
        ("DEVICE_GONE", duo.DeviceGoneError),
        ("NOT_IN_DFU_MODE", duo.NotInDfuModeError),
        ("INVALID_KEY", duo.KeyFormatError),
        ("INVALID_DCT", duo.DctFormatError),
        ("INVALID_DEVICE_ID", duo.InvalidDeviceIdError),
        ("CANCELLED", duo.CancelledError),
        ("SOMETHING_NEW", duo.DuoError),
    ],
)
def test_code_picks_the_class(code: str, cls: type) -> None:
    error = from_core(code, "what failed; next step", None, "next step", {"retry_after": 2.5})
    assert type(error) is cls
    assert error.code == code
    assert str(error) == error.message == "what failed; next step"
    assert error.remedy == "next step"
    assert getattr(error, "retry_after") == 2.5
    assert error.fields == {"retry_after": 2.5}


def test_fields_do_not_shadow_the_base_attributes() -> None:
    error = from_core("NETWORK", "m", None, None, {"code": "X", "message": "Y"})
    assert (error.code, error.message) == ("NETWORK", "m")


def test_rate_limited_without_retry_after() -> None:
    error = from_core("RATE_LIMITED", "m", None, None, {})
    assert isinstance(error, duo.RateLimitedError) and error.retry_after is None


def test_a_core_error_is_raised_as_its_class() -> None:
    with pytest.raises(duo.InvalidDeviceIdError) as caught:
        duo.VirtualDuo.create("/nonexistent-never-created", device_id="12")
    assert caught.value.code == "INVALID_DEVICE_ID"
    assert "24 hexadecimal digits" in caught.value.message


def test_from_core_words_the_remedy() -> None:
    error = from_core("NOT_IN_DFU_MODE", "m", {"kind": "enter_dfu_mode", "virtual_device": "/v"}, "n", {})
    assert error.remedy == "call VirtualDuo.open('/v').enter_dfu()"


def test_remedies_are_worded_with_this_packages_names() -> None:
    from duo_provisioning._remedies import render

    assert render(None, None) is None
    assert render(None, "neutral") == "neutral"
    worded = render({"kind": "enter_dfu_mode", "virtual_device": "/tmp/vd"}, "neutral")
    assert worded == "call VirtualDuo.open('/tmp/vd').enter_dfu()"
    assert render({"kind": "enter_dfu_mode", "virtual_device": None}, "hold SETUP") == "hold SETUP"
    assert "token=" in (render({"kind": "give_access_token"}, "n") or "")
    assert "wait 7 s" in (render({"kind": "retry_later", "after": 7}, "n") or "")
    assert "force=True" in (render({"kind": "allow_overwrite", "path": "/k.der"}, "n") or "")
    assert render({"kind": "something_new"}, "neutral") == "neutral"
    for kind in ("give_access_token", "check_network", "use_key_operations", "generate_key"):
        text = render({"kind": kind}, "n") or ""
        assert "--" not in text and "duoprov" not in text
