"""R4 bad input: schemathesis against ``/openapi.json`` and hypothesis fuzzing of every gateway's body,
headers and query, all against a real ``trackai serve`` process on a loopback port.

Checks on every generated request: never a 5xx; every 4xx is JSON whose ``detail`` says what is wrong;
no landing row (webhook event, conversion, quarantine) from a request that was not correctly
verified. Correctly signed garbage is fuzzed too: it must land (accepted or quarantined), never 5xx.
The full run makes at least 10,000 generated requests (``test_generated_request_total`` checks the
sum). ``TRACKAI_RELIABILITY_FUZZ_SCALE`` scales every example budget (default 1.0).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from trackai import tenants as tenants_mod
from trackai.core.gateways import kiwify as kiwify_gw
from trackai.core.gateways import stripe as stripe_gw
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request

from ._ingest_process import GATEWAYS, IngestProcess

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

SCALE = float(os.environ.get("TRACKAI_RELIABILITY_FUZZ_SCALE", "1.0"))
SCHEMA_EXAMPLES = max(5, int(100 * SCALE))  # per operation and generation mode
# Hypothesis examples are batches of BATCH requests sent concurrently (sequential requests would each
# wait for their own commit; concurrent ones share it): the budget below is in examples.
BATCH = 4
UNVERIFIED_EXAMPLES = max(3, int(100 * SCALE))  # per gateway and target; 2 * BATCH requests each
VERIFIED_EXAMPLES = max(3, int(60 * SCALE))  # per gateway; BATCH correctly signed garbage bodies each
MIN_TOTAL = 10_000 if SCALE >= 1.0 else 0

GENERATED: Counter = Counter()  # test name -> generated requests actually made
COMPLETED: set[str] = set()
ALL_PARTS = {"schemathesis", "unverified", "verified", "limits"}


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


# --- fixtures -----------------------------------------------------------------------------------


class Seller:
    def __init__(self, tenant_id: str, secrets: dict[str, str]) -> None:
        self.tenant_id = tenant_id
        self.secrets = secrets


def _create_seller(url: str, name: str) -> Seller:
    with psycopg.connect(url, autocommit=True) as conn:
        return Seller(*tenants_mod.create_tenant_with_every_gateway(conn, name))


@pytest.fixture(scope="module")
def service(pg_url: str, tmp_path_factory) -> Iterator[IngestProcess]:
    proc = IngestProcess(pg_url, tmp_path_factory.mktemp("r4") / "ingest.log")
    proc.start()
    try:
        proc.wait_ready(timeout=90)
        yield proc
    finally:
        proc.stop()
    assert proc.proc is not None
    # The service never died under the fuzzing (a crash would also show up as transport errors).
    assert proc.starts == 1


@pytest.fixture(scope="module")
def seller(pg_url: str) -> Seller:
    return _create_seller(pg_url, "R4 unverified target")


@pytest.fixture(scope="module")
def verified_seller(pg_url: str) -> Seller:
    return _create_seller(pg_url, "R4 verified garbage")


@pytest.fixture(scope="module")
def http(service: IngestProcess) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=2 * BATCH, max_keepalive_connections=2 * BATCH)
    with httpx.Client(base_url=service.base_url, timeout=15.0, limits=limits) as client:
        yield client


@pytest.fixture(scope="module")
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=2 * BATCH, thread_name_prefix="r4-post") as executor:
        yield executor


def post_concurrently(
    http: httpx.Client, pool: ThreadPoolExecutor, requests_: list[tuple[str, bytes, dict, dict]]
) -> list[httpx.Response]:
    return list(pool.map(lambda r: http.post(r[0], content=r[1], headers=r[2], params=r[3]), requests_))


def landing_totals(url: str, tenant_id: str | None = None) -> dict[str, int]:
    where = " WHERE tenant_id = %(t)s" if tenant_id else ""
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM landing.{table}{where}", {"t": tenant_id}).fetchone()[
                0
            ]
            for table in ("webhook_events", "conversions", "webhook_quarantine")
        }


# --- response checks ----------------------------------------------------------------------------


def says_what_is_wrong(status: int, content_type: str, body: bytes) -> str | None:
    """None when a 4xx explains itself (JSON ``detail``: non-empty text or a list of messages)."""
    if not 400 <= status < 500:
        return None
    if "json" not in content_type:
        return f"{status} without a JSON body ({content_type!r}): {body[:200]!r}"
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return f"{status} with an unreadable body: {body[:200]!r}"
    if isinstance(detail, str) and detail.strip():
        return None
    if (
        isinstance(detail, list)
        and detail
        and all(isinstance(e, dict) and str(e.get("msg", "")).strip() for e in detail)
    ):
        return None
    return f"{status} whose detail says nothing: {body[:200]!r}"


def check_response(status: int, content_type: str, body: bytes, what: str) -> None:
    assert status < 500, f"{what}: server error {status}: {body[:300]!r}"
    problem = says_what_is_wrong(status, content_type, body)
    assert problem is None, f"{what}: {problem}"


# --- schemathesis against /openapi.json -----------------------------------------------------------

# No parameters, or only free-form string path parameters: schemathesis cannot make negative data.
NOTHING_TO_NEGATE = {"/health", "/ready", "/api/v1/webhooks/{gateway}/{tenant_id}"}


def test_schemathesis_openapi(service: IngestProcess, seller: Seller, pg_url: str, record_figures) -> None:
    started = time.monotonic()
    before = landing_totals(pg_url)
    schema = schemathesis.openapi.from_url(service.base_url + "/openapi.json")
    session = requests.Session()
    statuses: Counter = Counter()
    per_operation: Counter = Counter()
    skipped: list[str] = []

    def run(operation, mode: GenerationMode, label: str, swap_tenant: bool = False) -> None:
        @fuzz_settings(SCHEMA_EXAMPLES)
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case) -> None:
            if swap_tenant and isinstance(case.body, dict) and "tenant_id" in case.body:
                case.body["tenant_id"] = seller.tenant_id  # reach the insert path with generated fields
            response = case.call(base_url=service.base_url, session=session, timeout=15)
            GENERATED["schemathesis"] += 1
            per_operation[label] += 1
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance])
            content_type = response.headers.get("content-type") or response.headers.get("Content-Type") or ""
            check_response(
                response.status_code,
                ",".join(content_type) if isinstance(content_type, list) else content_type,
                response.content,
                f"{case.method} {case.formatted_path}",
            )

        try:
            one()
        except Unsatisfiable:
            skipped.append(label)

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and operation.path in NOTHING_TO_NEGATE:
                continue
            run(operation, mode, f"{operation.label} [{mode.value}]")
        if operation.path == "/api/v1/track/click":
            run(operation, GenerationMode.POSITIVE, f"{operation.label} [real tenant]", swap_tenant=True)
    session.close()

    after = landing_totals(pg_url)
    COMPLETED.add("schemathesis")
    record_figures(
        {
            "generated_requests": GENERATED["schemathesis"],
            "per_operation": dict(per_operation),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "5xx": sum(v for k, v in statuses.items() if k >= 500),
            "unsatisfiable_skipped": skipped,
            "webhook_rows_before": before,
            "webhook_rows_after": after,
            "runtime_s": round(time.monotonic() - started, 1),
        }
    )
    # Every operation in the schema was exercised.
    assert {label.split(" [")[0] for label in per_operation} == {op.label for op in operations}, per_operation
    assert len(operations) >= 5  # /metrics is on the internal listener, not in this schema (issue 22)
    # No generated request could authenticate a webhook: nothing landed on the webhook side.
    assert after == before


# --- hypothesis: each gateway's body, headers and query without valid authentication ---------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001d518", "1e999999", "-0", "NaN", "", " ", "\\u0000"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=12,
)
header_text = st.text(  # what HTTP/1.1 can carry in a header value (latin-1, no outer whitespace)
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=60
).map(lambda s: s.strip(" "))
hexish = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=80)

# Fields of each gateway's payload that matter most to mapping and keys.
KEY_FIELDS = {
    "perfectpay": [
        "code",
        "sale_status_enum",
        "sale_amount",
        "customer",
        "metadata",
        "date_created",
        "token",
    ],
    "hotmart": ["id", "event", "data", "creation_date", "hottok"],
    "kiwify": ["order_id", "webhook_event_type", "order_status", "Commissions", "Customer", "approved_date"],
    "stripe": ["id", "type", "data", "created"],
}


def dumps(value, ascii_only: bool = True) -> bytes:
    """JSON bytes; ``ascii_only`` writes lone surrogates and NULs as \\u escapes (valid JSON text that
    decodes to strings Postgres and UTF-8 cannot hold), otherwise raw (possibly invalid) UTF-8."""
    return json.dumps(value, ensure_ascii=ascii_only, default=str).encode("utf-8", "surrogatepass")


@st.composite
def garbage_body(draw, gateway: str) -> bytes:
    """Random bytes, random JSON, or a realistic payload with fields replaced, dropped or added."""
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "mutated", "truncated"]))
    ascii_only = draw(st.booleans())
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    if kind == "json":
        return dumps(draw(json_values), ascii_only)
    payload = build_payload(gateway, order_id=f"fz-{draw(st.integers(0, 10**9))}", email="f@example.com")
    if kind == "truncated":
        raw = json.dumps(payload).encode()
        return raw[: draw(st.integers(0, len(raw) - 1))]
    for _ in range(draw(st.integers(1, 4))):
        field = draw(st.sampled_from([*KEY_FIELDS[gateway], *payload.keys()]))
        action = draw(st.sampled_from(["replace", "drop", "nest"]))
        if action == "drop":
            payload.pop(field, None)
        elif action == "nest" and isinstance(payload.get(field), dict) and payload[field]:
            inner = draw(st.sampled_from(sorted(payload[field])))
            payload[field][inner] = draw(json_values)
        else:
            payload[field] = draw(json_values)
    return dumps(payload, ascii_only)


def valid_body(gateway: str, n: int) -> bytes:
    payload = build_payload(gateway, order_id=f"uv-{n}", email="x@example.com")
    if gateway == "perfectpay":
        payload.pop("token", None)
    return json.dumps(payload).encode()


@st.composite
def stripe_header(draw, secret: str, body: bytes) -> str:
    """Wrong, malformed, stale or missing-scheme Stripe-Signature headers (never a valid one)."""
    now = int(time.time())
    kind = draw(st.sampled_from(["random", "wrong_secret", "stale", "other_body", "shapes", "no_v1"]))
    if kind == "random":
        return draw(header_text)
    if kind == "wrong_secret":
        t = now - draw(st.integers(-100, 200))
        wrong = draw(st.text(min_size=1, max_size=30).filter(lambda s: s != secret))
        return f"t={t},v1={stripe_gw.signature(wrong, t, body)}"
    if kind == "stale":  # correct signature, replayed after the tolerance
        t = now - draw(st.integers(301, 10**8))
        return f"t={t},v1={stripe_gw.signature(secret, t, body)}"
    if kind == "other_body":
        t = now
        return f"t={t},v1={stripe_gw.signature(secret, t, body + b' ')}"
    if kind == "no_v1":
        return f"t={now},v0={draw(hexish)}"
    parts = draw(
        st.lists(
            st.tuples(st.sampled_from(["t", "v1", "v0", "x", "", "T", "V1"]), hexish | header_text),
            max_size=6,
        )
    )
    return ",".join(f"{k}={v}" for k, v in parts)


@st.composite
def unverified_request(draw, gateway: str, target: str, secret: str, n_body: int):
    """(body, headers, query) that never carries this gateway's valid authentication."""
    body = draw(garbage_body(gateway)) if target == "body" else valid_body(gateway, n_body)
    headers: dict[str, bytes] = {"Content-Type": b"application/json"}
    query: dict[str, str] = {}
    if target == "headers":
        for name in draw(
            st.lists(st.sampled_from(["X-Junk", "Stripe-Signature", "X-HOTMART-HOTTOK"]), max_size=2)
        ):
            headers[name] = draw(header_text).encode("latin-1")
        if draw(st.booleans()):
            headers["Content-Type"] = draw(header_text).encode("latin-1")
    if target == "query":
        query = draw(
            st.dictionaries(
                st.sampled_from(["signature", "token", "hottok", "t", "x"]), header_text, max_size=3
            )
        )

    if gateway == "stripe":
        if target != "query" or draw(st.booleans()):
            choice = draw(st.sampled_from(["header", "header", "missing"]))
            if choice == "header":
                headers["Stripe-Signature"] = draw(stripe_header(secret, body)).encode("latin-1")
            else:
                headers.pop("Stripe-Signature", None)
    elif gateway == "hotmart":
        token = draw(st.none() | header_text.filter(lambda s: s.strip() != secret))
        if token is None:
            headers.pop("X-HOTMART-HOTTOK", None)
        else:
            headers["X-HOTMART-HOTTOK"] = token.encode("latin-1")
        if draw(st.booleans()):  # a wrong token in the body as well
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                payload = json.loads(body)
                payload["hottok"] = draw(header_text.filter(lambda s: s != secret))
                body = dumps(payload)
    elif gateway == "kiwify":
        if target == "query":
            if draw(st.booleans()):
                query["signature"] = draw(hexish | header_text)
        else:
            choice = draw(st.sampled_from(["wrong_secret", "random", "missing"]))
            if choice == "wrong_secret":
                query["signature"] = kiwify_gw.signature(body, draw(st.text(min_size=1, max_size=20)))
            elif choice == "random":
                query["signature"] = draw(hexish | header_text)
            else:
                query.pop("signature", None)
        assume(query.get("signature", "").strip().lower() != kiwify_gw.signature(body, secret))
    elif gateway == "perfectpay":
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            payload = json.loads(body)
            if isinstance(payload, dict):
                payload["token"] = draw(st.none() | json_values | header_text)
                assume(payload["token"] != secret)
                body = dumps(payload)
    return body, headers, query


@pytest.mark.parametrize("target", ["body", "headers", "query"])
@pytest.mark.parametrize("gateway", GATEWAYS)
def test_unverified_requests_are_refused_and_land_nothing(
    http: httpx.Client,
    pool: ThreadPoolExecutor,
    seller: Seller,
    verified_seller: Seller,
    pg_url: str,
    gateway: str,
    target: str,
    record_figures,
) -> None:
    """Each generated request goes to the seller it was forged for and to a stranger (not a UUID, an
    unknown tenant, another seller): both 401, and the answers cannot tell the two apart."""
    started = time.monotonic()
    secret = seller.secrets[gateway]
    before_tenant = landing_totals(pg_url, seller.tenant_id)
    before_all = landing_totals(pg_url)
    statuses: Counter = Counter()
    counter = iter(range(10**9))
    strangers = st.sampled_from(
        ["not-a-uuid", str(uuid.uuid4()), verified_seller.tenant_id, "%00", "0" * 300]
    )

    @fuzz_settings(UNVERIFIED_EXAMPLES)
    @given(data=st.data())
    def one(data) -> None:
        batch = [data.draw(unverified_request(gateway, target, secret, next(counter))) for _ in range(BATCH)]
        sends = []
        for body, headers, query in batch:
            for tenant in (seller.tenant_id, data.draw(strangers)):
                sends.append((f"/api/v1/webhooks/{gateway}/{tenant}", body, headers, query))
        responses = post_concurrently(http, pool, sends)
        GENERATED["unverified"] += len(responses)
        for (path, body, headers, query), response in zip(sends, responses, strict=True):
            statuses[response.status_code] += 1
            check_response(
                response.status_code, response.headers.get("content-type", ""), response.content, path
            )
            assert response.status_code == 401, (
                response.status_code,
                response.text,
                body[:200],
                headers,
                query,
            )
        for own, stranger in zip(responses[::2], responses[1::2], strict=True):
            if own.json()["detail"] != "timestamp outside the tolerance zone":  # genuine but stale
                assert own.json() == stranger.json(), (own.text, stranger.text)

    one()
    after_tenant = landing_totals(pg_url, seller.tenant_id)
    after_all = landing_totals(pg_url)
    COMPLETED.add("unverified")
    record_figures(
        {
            "gateway": gateway,
            "target": target,
            "generated_requests": sum(statuses.values()),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "landing_rows_before": before_all,
            "landing_rows_after": after_all,
            "runtime_s": round(time.monotonic() - started, 1),
        }
    )
    assert after_tenant == before_tenant == {"webhook_events": 0, "conversions": 0, "webhook_quarantine": 0}
    assert after_all == before_all
    assert sum(statuses.values()) >= UNVERIFIED_EXAMPLES * 2 * BATCH


# --- hypothesis: correctly signed garbage lands (accepted or quarantined), never a 5xx ---------------


@pytest.mark.parametrize("gateway", GATEWAYS)
def test_verified_garbage_lands_or_quarantines(
    http: httpx.Client,
    pool: ThreadPoolExecutor,
    verified_seller: Seller,
    pg_url: str,
    gateway: str,
    record_figures,
) -> None:
    started = time.monotonic()
    seller = verified_seller
    secret = seller.secrets[gateway]
    before = landing_totals(pg_url, seller.tenant_id)
    statuses: Counter = Counter()
    outcomes: Counter = Counter()

    def signed(raw: bytes) -> tuple[str, bytes, dict, dict]:
        if gateway == "perfectpay":  # the token lives inside a JSON object: only those can be signed
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                payload = {"garbage": raw.decode("latin-1")}
            payload["token"] = secret
            return f"/api/v1/webhooks/{gateway}/{seller.tenant_id}", dumps(payload), {}, {}
        headers, query, body = sign_request(gateway, secret, raw)
        return f"/api/v1/webhooks/{gateway}/{seller.tenant_id}", body, headers, query

    @fuzz_settings(VERIFIED_EXAMPLES)
    @given(raws=st.lists(garbage_body(gateway), min_size=BATCH, max_size=BATCH))
    def one(raws: list[bytes]) -> None:
        sends = [signed(raw) for raw in raws]
        responses = post_concurrently(http, pool, sends)
        GENERATED["verified"] += len(responses)
        for (path, body, _, _), response in zip(sends, responses, strict=True):
            statuses[response.status_code] += 1
            check_response(
                response.status_code, response.headers.get("content-type", ""), response.content, path
            )
            assert response.status_code in (200, 202), (response.status_code, response.text, body[:300])
            outcomes[response.json()["status"]] += 1

    one()
    after = landing_totals(pg_url, seller.tenant_id)
    COMPLETED.add("verified")
    landed = {k: after[k] - before[k] for k in after}
    record_figures(
        {
            "gateway": gateway,
            "generated_requests": sum(statuses.values()),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "outcomes": dict(outcomes),
            "rows_landed": landed,
            "runtime_s": round(time.monotonic() - started, 1),
        }
    )
    # Every 2xx left a row: accepted -> a webhook event, quarantined -> an encrypted quarantine row.
    assert landed["webhook_events"] == outcomes["accepted"]
    assert landed["webhook_quarantine"] == outcomes["quarantined"]
    assert sum(statuses.values()) >= VERIFIED_EXAMPLES * BATCH


# --- limits and routing, explicitly ---------------------------------------------------------------


def test_limits_and_unknown_routes(http: httpx.Client, seller: Seller, pg_url: str, record_figures) -> None:
    before = landing_totals(pg_url)
    rng = random.Random(9)
    seen: Counter = Counter()

    def post(path: str, body: bytes, **kw) -> httpx.Response:
        response = http.post(path, content=body, **kw)
        GENERATED["limits"] += 1
        seen[response.status_code] += 1
        check_response(response.status_code, response.headers.get("content-type", ""), response.content, path)
        return response

    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    for gateway in GATEWAYS:
        # Over the size limit, even correctly signed: 413 before anything is parsed.
        headers, query, body = (
            sign_request(gateway, seller.secrets[gateway], big)
            if gateway != "perfectpay"
            else (
                {},
                {},
                big,
            )
        )
        assert (
            post(
                f"/api/v1/webhooks/{gateway}/{seller.tenant_id}", body, headers=headers, params=query
            ).status_code
            == 413
        )
    for name in ["paypal", "STRIPE", "stripe ", "..", "%00", "hotmart.js", "x" * 300]:
        r = post(f"/api/v1/webhooks/{name}/{seller.tenant_id}", bytes(rng.getrandbits(8) for _ in range(64)))
        assert r.status_code == 404, (name, r.status_code, r.text)
    assert post("/api/v1/track/click", b"{" * 5000).status_code == 422
    assert (
        post("/api/v1/track/click", json.dumps({"tenant_id": seller.tenant_id}).encode()).status_code == 422
    )
    after = landing_totals(pg_url)
    COMPLETED.add("limits")
    record_figures({"generated_requests": GENERATED["limits"], "statuses": dict(seen)})
    assert after == before


def test_generated_request_total(record_figures) -> None:
    """The issue's floor: at least 10,000 generated requests in the full run of this module."""
    if COMPLETED != ALL_PARTS:
        pytest.skip(f"partial run (ran {sorted(COMPLETED)}); the total is only meaningful for the module")
    total = sum(GENERATED.values())
    record_figures({"generated_requests": total, "by_part": dict(GENERATED), "scale": SCALE})
    assert total >= MIN_TOTAL, GENERATED
