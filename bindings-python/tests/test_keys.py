"""keys and server_key: generate_key, inspect_key, format/parse_server_key."""

from __future__ import annotations

import pytest

import duo_provisioning as duo


def test_generate_key_is_a_valid_rsa_1024_device_key() -> None:
    der = duo.generate_key()
    assert isinstance(der, bytes)
    report = duo.inspect_key(der)
    assert isinstance(report, duo.KeyReport)
    assert (report.kind, report.state, report.bits) == ("private", "valid", 1024)
    assert report.public_exponent == "65537"
    assert report.fingerprint is not None and len(report.fingerprint) == 64


def test_two_generated_keys_differ() -> None:
    assert duo.inspect_key(duo.generate_key()).fingerprint != duo.inspect_key(
        duo.generate_key()
    ).fingerprint


def test_inspect_key_classifies_slot_dumps() -> None:
    assert duo.inspect_key(b"\xff" * 1216).state == "erased"
    corrupt = duo.inspect_key(b"\x30\x82garbage" + b"\x00" * 100)
    assert corrupt.state == "corrupt"
    assert corrupt.reason


def test_inspect_key_to_dict_is_the_core_report() -> None:
    data = duo.inspect_key(b"\xff" * 1216).to_dict()
    assert data == {"state": "erased"}


def test_server_key_round_trip_with_address_and_port() -> None:
    block = duo.format_server_key(address="192.168.1.10", port=5684)
    parsed = duo.parse_server_key(block)
    assert isinstance(parsed, duo.ServerKey)
    assert parsed.address == {"type": "ipv4", "value": "192.168.1.10"}
    assert parsed.port == 5684
    assert parsed.stored_port == 5684
    assert parsed.key_bits == 2048


def test_server_key_defaults_are_the_particle_cloud() -> None:
    parsed = duo.parse_server_key(duo.format_server_key())
    assert parsed.address == {"type": "domain", "value": "device.spark.io"}
    assert parsed.port == 5683
    assert parsed.stored_address is None and parsed.stored_port is None


def test_server_key_with_a_domain() -> None:
    parsed = duo.parse_server_key(duo.format_server_key(address="cloud.example.com"))
    assert parsed.address == {"type": "domain", "value": "cloud.example.com"}


def test_bad_server_address_raises_key_format_error() -> None:
    with pytest.raises(duo.KeyFormatError) as caught:
        duo.format_server_key(address="bad host!")
    assert caught.value.code == "INVALID_SERVER_KEY"
    assert isinstance(caught.value, ValueError)


def test_bad_public_key_raises_key_format_error() -> None:
    with pytest.raises(duo.KeyFormatError) as caught:
        duo.format_server_key(b"not a key")
    assert caught.value.code.startswith("INVALID_")
    assert "key" in caught.value.message


def test_parse_server_key_of_an_erased_block_raises() -> None:
    with pytest.raises(duo.KeyFormatError):
        duo.parse_server_key(b"\xff" * 768)
