"""parse_dct: the core's DctReport as a typed object."""

from __future__ import annotations

import pytest

import duo_provisioning as duo


def test_parse_factory_image(factory_dct: bytes) -> None:
    report = duo.parse_dct(factory_dct)
    assert isinstance(report, duo.DctReport)
    assert (report.platform, report.kind, report.size) == ("duo", "image", 32768)
    assert report.device_private_key == {"state": "erased"}
    assert report.current_partition in (0, 1)
    names = [f["name"] for f in report.fields]
    assert "device_private_key" in names and "server_public_key" in names


def test_to_dict_holds_every_attribute(factory_dct: bytes) -> None:
    report = duo.parse_dct(factory_dct)
    data = report.to_dict()
    assert data["kind"] == report.kind
    assert data["fields"] == report.fields
    data["kind"] = "changed"
    assert report.kind == "image", "to_dict() must return a copy"


def test_parse_dct_of_garbage_raises_dct_format_error() -> None:
    with pytest.raises(duo.DctFormatError) as caught:
        duo.parse_dct(b"\x00" * 10)
    assert caught.value.code == "INVALID_DCT"
    assert isinstance(caught.value, duo.DuoError)
    assert "10" in caught.value.message


def test_unknown_platform_is_a_value_error(factory_dct: bytes) -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        duo.parse_dct(factory_dct, platform="esp32")
