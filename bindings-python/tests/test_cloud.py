"""provision, provision_many and their async variants against local clouds;
the cloud errors as exceptions; the GIL released while waiting."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, List, Optional

import pytest

import duo_provisioning as duo

UNSEEDED = "0123456789abcdef01234567"


def assert_token_hidden(error: BaseException, token: str) -> None:
    """The token text appears in no message, attribute or argument."""
    texts: List[str] = [str(error), repr(error), *map(str, error.args)]
    if isinstance(error, duo.DuoError):
        texts += [error.message, str(error.remedy), error.code, repr(error.fields)]
    texts += [repr(v) for v in vars(error).values()]
    for text in texts:
        assert token not in text


def test_provision_a_seeded_device(virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud) -> None:
    result = duo.provision(virtual_duo.device_id)
    assert isinstance(result, duo.ProvisionResult)
    assert result.device_id == virtual_duo.device_id
    assert result.attempts == 1
    assert result.product_id == 88
    assert result.key_source == {"kind": "generic"}
    generic = duo.inspect_key(open_generic_key()).fingerprint
    assert result.fingerprint == generic
    assert local_cloud.public_key(virtual_duo.device_id) is not None
    assert [r.device_id for r in local_cloud.records()] == [virtual_duo.device_id]


def open_generic_key() -> bytes:
    from conftest import SHARED

    path = SHARED / "generic_public_key.pem"
    if not path.exists():
        pytest.skip(f"vendor fixture {path} is not there")
    return path.read_bytes()


def test_provision_with_an_explicit_key_and_arguments(
    virtual_duo: duo.VirtualDuo, cloud_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARTICLE_ACCESS_TOKEN", raising=False)
    key = duo.generate_key()
    with duo.LocalCloud(tokens=[cloud_token], devices=[virtual_duo.device_id]) as cloud:
        result = duo.provision(
            virtual_duo.device_id, cloud_token, public_key=key, api_url=cloud.url, product_id=88
        )
        assert result.fingerprint == duo.inspect_key(key).fingerprint
        held = cloud.public_key(virtual_duo.device_id)
        assert held is not None and duo.inspect_key(held.encode()).fingerprint == result.fingerprint


def test_provision_against_duoprov_cloud_serve(
    virtual_duo: duo.VirtualDuo, duoprov_cloud: str, cloud_token: str
) -> None:
    key = duo.generate_key()
    result = duo.provision(virtual_duo.device_id, cloud_token, public_key=key, api_url=duoprov_cloud)
    assert result.device_id == virtual_duo.device_id
    assert result.fingerprint == duo.inspect_key(key).fingerprint

    with pytest.raises(duo.PermissionDeniedError) as caught:
        duo.provision(UNSEEDED, cloud_token, api_url=duoprov_cloud)
    error = caught.value
    assert isinstance(error, duo.DuoError) and isinstance(error, duo.CloudError)
    assert error.code == "PERMISSION_DENIED"
    assert "initial provisioning" in error.message
    assert getattr(error, "device_id") == UNSEEDED
    assert_token_hidden(error, cloud_token)


def test_unseeded_device_raises_permission_denied(local_cloud: duo.LocalCloud, cloud_token: str) -> None:
    with pytest.raises(duo.PermissionDeniedError) as caught:
        duo.provision(UNSEEDED)
    assert caught.value.code == "PERMISSION_DENIED"
    assert "initial provisioning" in str(caught.value)
    assert_token_hidden(caught.value, cloud_token)


def test_wrong_token_raises_invalid_token_without_the_token(
    virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud
) -> None:
    wrong = "wrong-token-3b5e8f1a9c7d2e4f6a8b"
    with pytest.raises(duo.InvalidTokenError) as caught:
        duo.provision(virtual_duo.device_id, wrong, api_url=local_cloud.url)
    assert caught.value.code == "INVALID_TOKEN"
    assert_token_hidden(caught.value, wrong)


def test_malformed_device_id_raises_before_any_request(local_cloud: duo.LocalCloud) -> None:
    with pytest.raises(duo.InvalidDeviceIdError) as caught:
        duo.provision("not-an-id")
    assert caught.value.code == "INVALID_DEVICE_ID"
    assert isinstance(caught.value, ValueError)
    assert local_cloud.stats().requests == 0


def test_rate_limited_carries_retry_after(virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud) -> None:
    local_cloud.set_fault({"kind": "status", "status": 429, "retry_after_secs": 7})
    with pytest.raises(duo.RateLimitedError) as caught:
        duo.provision(virtual_duo.device_id, retries=0)
    assert caught.value.code == "RATE_LIMITED"
    assert caught.value.retry_after == 7.0


def test_server_error_is_a_cloud_error_with_status(
    virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud
) -> None:
    local_cloud.set_fault({"kind": "status", "status": 500, "body": "html"})
    with pytest.raises(duo.CloudError) as caught:
        duo.provision(virtual_duo.device_id, retries=0)
    assert caught.value.code == "SERVER_ERROR"
    assert getattr(caught.value, "http_status") == 500
    local_cloud.set_fault(None)
    assert duo.provision(virtual_duo.device_id).device_id == virtual_duo.device_id


def test_a_404_from_the_provisioning_endpoint_names_the_url(local_cloud: duo.LocalCloud) -> None:
    local_cloud.set_fault({"kind": "status", "status": 404})
    with pytest.raises(duo.CloudError) as caught:
        duo.provision(UNSEEDED, retries=0)
    assert caught.value.code == "INVALID_URL"
    assert local_cloud.url in caught.value.message


def test_no_token_anywhere_raises_invalid_token(
    local_cloud: duo.LocalCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PARTICLE_ACCESS_TOKEN")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(duo.InvalidTokenError) as caught:
        duo.provision(UNSEEDED)
    assert caught.value.code == "NO_TOKEN"
    assert local_cloud.stats().requests == 0


def test_invalid_fault_is_a_value_error(local_cloud: duo.LocalCloud) -> None:
    with pytest.raises(ValueError, match="fault"):
        local_cloud.set_fault({"kind": "no-such-fault"})


def test_provision_many_reports_every_device(cloud_token: str) -> None:
    ids = [f"{i:024x}" for i in range(1, 41)]
    seen: List[duo.DeviceResult] = []
    with duo.LocalCloud(tokens=[cloud_token], devices=ids[:30]) as cloud:
        report = duo.provision_many(
            ids, cloud_token, api_url=cloud.url, concurrency=8, on_result=seen.append
        )
    assert isinstance(report, duo.BatchReport)
    assert isinstance(report.summary, duo.BatchSummary)
    assert (report.summary.total, report.summary.ok, report.summary.failed) == (40, 30, 10)
    assert sorted(r.device_id for r in seen) == sorted(ids)
    failed = {r.device_id for r in report.results if not r.ok}
    assert failed == set(ids[30:])
    assert all(r.error_kind == "permission_denied" for r in report.results if not r.ok)


def test_provision_many_with_per_device_keys(cloud_token: str) -> None:
    ids = [f"{i:024x}" for i in range(1, 4)]
    keys = [duo.generate_key() for _ in ids]
    with duo.LocalCloud(tokens=[cloud_token], devices=ids) as cloud:
        report = duo.provision_many(list(zip(ids, keys)), cloud_token, api_url=cloud.url)
    by_id = {r.device_id: r.fingerprint for r in report.results}
    assert by_id == {i: duo.inspect_key(k).fingerprint for i, k in zip(ids, keys)}


def test_provision_many_raises_what_on_result_raised(cloud_token: str) -> None:
    ids = [f"{i:024x}" for i in range(1, 4)]

    def fail(result: duo.DeviceResult) -> None:
        raise RuntimeError(f"callback saw {result.device_id}")

    with duo.LocalCloud(tokens=[cloud_token], devices=ids) as cloud:
        with pytest.raises(RuntimeError, match="callback saw"):
            duo.provision_many(ids, cloud_token, api_url=cloud.url, on_result=fail)


def test_provision_many_of_nothing_is_refused(local_cloud: duo.LocalCloud) -> None:
    with pytest.raises(ValueError, match="at least one"):
        duo.provision_many([])


def test_async_variants(virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud) -> None:
    seen: List[str] = []
    progress: List[int] = []

    async def main() -> Any:
        one = await duo.provision_async(virtual_duo.device_id)
        many = await duo.provision_many_async(
            [virtual_duo.device_id],
            on_result=lambda r: seen.append(r.device_id),
            on_progress=lambda e: progress.append(e.done),
        )
        return one, many

    one, many = asyncio.run(main())
    assert one.device_id == virtual_duo.device_id
    assert many.summary.ok == 1
    assert seen == [virtual_duo.device_id]
    assert progress == [0, 1]


def test_async_errors_are_the_same_exceptions(local_cloud: duo.LocalCloud) -> None:
    with pytest.raises(duo.PermissionDeniedError):
        asyncio.run(duo.provision_async(UNSEEDED))


def test_a_delayed_provision_does_not_stop_other_python_threads(
    virtual_duo: duo.VirtualDuo, local_cloud: duo.LocalCloud
) -> None:
    # The cloud holds the request for two minutes; the test ends it sooner by
    # closing the cloud, so nothing here depends on how fast anything runs.
    local_cloud.set_fault({"kind": "delay", "ms": 120_000})
    outcome: List[Optional[BaseException]] = []

    def provisioning() -> None:
        try:
            duo.provision(virtual_duo.device_id, retries=0)
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - recorded for the assertion
            outcome.append(e)

    worker = threading.Thread(target=provisioning)
    worker.start()
    # This thread runs Python while the worker waits inside provision():
    # polling the cloud's counters until the request arrived, then counting.
    while local_cloud.stats().requests == 0:
        threading.Event().wait(0.01)
    counted = sum(1 for _ in range(100_000))
    assert counted == 100_000
    assert worker.is_alive(), "provision() returned although the cloud still holds the request"
    local_cloud.close()
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], duo.CloudError)


def test_a_token_of_another_account_is_permission_denied(
    virtual_duo: duo.VirtualDuo, cloud_token: str
) -> None:
    other = "other-account-token-5d7f9b1c3e"
    owned = {"device_id": virtual_duo.device_id, "account": "owner", "product_id": 88}
    accounts = {"owner": [cloud_token], "stranger": [other]}
    with duo.LocalCloud(accounts=accounts, devices=[owned]) as cloud:
        with pytest.raises(duo.PermissionDeniedError) as caught:
            duo.provision(virtual_duo.device_id, other, api_url=cloud.url)
        assert caught.value.code == "PERMISSION_DENIED"
        assert_token_hidden(caught.value, other)
        assert duo.provision(virtual_duo.device_id, cloud_token, api_url=cloud.url).attempts == 1


def test_invalid_seeded_device_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="seeded device"):
        duo.LocalCloud(devices=[{"account": "no id"}])
