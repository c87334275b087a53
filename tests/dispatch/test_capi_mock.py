"""The local Graph API fake enforces Meta's contract and records what it accepted."""

import json
import time

import httpx
import pytest

from trackai.core import pii
from trackai_cli.capi_mock import MockConfig, MockServer


@pytest.fixture(scope="module")
def fake():
    with MockServer(MockConfig(tokens=["good-token"], seed=1)) as server:
        yield server


def event(**kw):
    base = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "event_id": "e1",
        "action_source": "other",
        "user_data": {"em": [pii.hash_email("a@b.co")]},
        "custom_data": {"value": 10.0, "currency": "BRL"},
    }
    base.update(kw)
    return base


def post(fake, events, token="good-token", **extra):  # noqa: S107
    return httpx.post(
        f"{fake.url}/v25.0/123456789/events", params={"access_token": token}, json={"data": events, **extra}
    )


def test_success_shape_and_record(fake):
    fake.reset()
    r = post(fake, [event(event_id="x1"), event(event_id="x2")], test_event_code="TEST1")
    assert r.status_code == 200
    body = r.json()
    assert body["events_received"] == 2 and body["messages"] == [] and body["fbtrace_id"]
    assert fake.event_ids() == ["x1", "x2"]
    accepted = httpx.get(f"{fake.url}/_mock/accepted", params={"pixel_id": "123456789"}).json()
    assert [e["event_id"] for e in accepted["events"]] == ["x1", "x2"]
    assert accepted["events"][0]["_test_event_code"] == "TEST1"


@pytest.mark.parametrize(
    ("events", "subcode"),
    [
        ([event()] * 1001, 2804019),
        ([event(), event(event_time=int(time.time()) - 8 * 86400)], 2804003),
        ([event(event_time=int(time.time()) + 3600)], 2804004),
        ([event(user_data={"em": ["a@b.co"]})], 2804016),
        ([event(user_data={"em": [pii.hash_email("a@b.co")], "fbc": "fb.1.x.y"})], 2804001),
        ([{k: v for k, v in event().items() if k != "action_source"}], 2804007),
        ([event(action_source="website")], 2804007),
    ],
)
def test_invalid_batches_refused_whole(fake, events, subcode):
    fake.reset()
    r = post(fake, events)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == 100 and error["error_subcode"] == subcode
    assert error["error_user_title"] and error["fbtrace_id"]
    assert fake.event_ids() == []  # all or nothing


def test_unknown_token_is_190(fake):
    r = post(fake, [event()], token="nope")
    assert r.status_code == 400 and r.json()["error"]["code"] == 190


def test_form_encoded_like_the_sdk(fake):
    fake.reset()
    r = httpx.post(
        f"{fake.url}/v25.0/123456789/events",
        data={"access_token": "good-token", "data": json.dumps([json.dumps(event(event_id="f1"))])},
    )
    assert r.status_code == 200 and fake.event_ids() == ["f1"]


def test_debug_token(fake):
    ok = httpx.get(f"{fake.url}/v25.0/debug_token", params={"input_token": "good-token", "access_token": "a"})
    assert ok.json()["data"]["is_valid"] is True
    bad = httpx.get(f"{fake.url}/v25.0/debug_token", params={"input_token": "nope", "access_token": "a"})
    assert bad.json()["data"]["is_valid"] is False and bad.json()["data"]["error"]["code"] == 190


def test_fault_injection(fake):
    fake.configure(fail_rate=1.0)
    r = post(fake, [event()])
    assert r.status_code == 500 and r.json()["error"]["is_transient"] is True
    fake.configure(fail_rate=0.0, throttle_rate=1.0)
    assert post(fake, [event()]).json()["error"]["code"] == 17
    fake.configure(throttle_rate=0.0, timeout_rate=1.0, timeout_seconds=1.0)
    with pytest.raises(httpx.ReadTimeout):
        post_timeout = httpx.Client(timeout=0.2)
        post_timeout.post(f"{fake.url}/v25.0/1/events", params={"access_token": "good-token"}, json={})
    fake.configure(timeout_rate=0.0, latency_ms=150)
    started = time.perf_counter()
    assert post(fake, [event()]).status_code == 200
    assert time.perf_counter() - started >= 0.15
    fake.configure(latency_ms=0)


def test_cli_serves(tmp_path, processes):
    from tests.support.processes import trackai
    from trackai.net import free_port

    url = f"http://127.0.0.1:{free_port()}"
    record = tmp_path / "accepted.jsonl"
    port = url.rsplit(":", 1)[1]
    processes.start(
        "capi-mock",
        trackai("capi-mock", "--port", port, "--record-file", str(record)),
        ready=f"{url}/_mock/stats",
        timeout=20,
    )
    r = httpx.post(
        f"{url}/v25.0/42/events", params={"access_token": "t"}, json={"data": [event(event_id="c1")]}
    )
    assert r.status_code == 200
    assert json.loads(record.read_text().splitlines()[0])["event"]["event_id"] == "c1"
