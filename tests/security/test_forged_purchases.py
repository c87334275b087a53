"""Issue 22, finding 3: forged purchases on static-token gateways (Hotmart hottok, Perfect Pay token).

The attack: with a leaked token, post a delivery the gateway never sent (new order id, value 99,999).
Ingest accepts it (the token is valid; nothing signs the body). It must never reach Meta: the sales API
(when the tenant configured credentials) or the tenant's funnels refuse it before dispatch, the refusal
is visible with its reason, and the anomaly alarm fires. A genuine purchase still goes through.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi.testclient import TestClient

from ingest_service.main import create_app
from trackai import db, tenants
from trackai.core.event_id import event_id
from trackai.dispatch import run_dispatch
from trackai.pipeline.batch import run_batch
from trackai.settings import Settings, get_settings
from trackai.verification import rules, store
from trackai.verification.allowlist import parse_allowlists, source_allowed
from trackai.verification.clients import HotmartSales, KiwifySales, SalesApiError
from trackai.verification.credentials import CredentialsError, parse_credentials
from trackai.verification.engine import verify_purchases
from trackai_cli.capi_mock import MockConfig, MockServer
from trackai_cli.gateway_samples import build_payload
from trackai_cli.gateway_signing import sign_request
from trackai_cli.sales_api_mock import SalesApiServer

NO_SLEEP = lambda s: None  # noqa: E731
FORGED_VALUE = Decimal("99999")
PRICE = Decimal("197.00")
HOTMART_PRODUCT = "5123456"
PERFECTPAY_PRODUCT = "PPPB3A07"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LIMITS = rules.Limits()


# --- pure rules ---------------------------------------------------------------------------------------


def purchase(gateway="hotmart", amount=PRICE, currency="BRL", product=HOTMART_PRODUCT) -> rules.Purchase:
    return rules.Purchase("t", gateway, "HP1", amount, currency, product)


REFERENCE = rules.Reference({HOTMART_PRODUCT: {"BRL": (PRICE,)}, "ebook": {}})


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (purchase(), ("plausible", "funnel_product_and_price")),
        (purchase(amount=PRICE * 2), ("plausible", "funnel_product_and_price")),
        (purchase(amount=FORGED_VALUE), ("rejected", "amount_out_of_range")),
        (purchase(amount=Decimal("1")), ("rejected", "amount_out_of_range")),
        (purchase(product="999"), ("rejected", "unknown_product")),
        (purchase(product=None), ("rejected", "unknown_product")),
        (purchase(currency="USD"), ("rejected", "currency_not_sold")),
        (purchase(amount=None), ("rejected", "no_amount")),
        (purchase(product="ebook", amount=FORGED_VALUE), ("plausible", "funnel_product")),
    ],
)
def test_funnel_check(p, expected) -> None:
    verdict = rules.check_against_funnels(p, REFERENCE, LIMITS)
    assert (verdict.outcome, verdict.reason) == expected


def test_without_any_reference_static_token_purchases_are_unverifiable_and_signed_ones_pass() -> None:
    assert rules.without_sales_api(purchase(), rules.Reference(), LIMITS).outcome == "unverifiable"
    assert rules.without_sales_api(purchase("perfectpay"), rules.Reference(), LIMITS).reason == "no_reference"
    for gateway in ("kiwify", "stripe"):
        assert rules.without_sales_api(purchase(gateway), rules.Reference(), LIMITS).outcome == "signed"


SOLD = rules.Sale(True, "APPROVED", PRICE, "BRL", HOTMART_PRODUCT)


@pytest.mark.parametrize(
    ("sale", "p", "age", "expected"),
    [
        (SOLD, purchase(), 0, ("confirmed", "sale_confirmed")),
        (
            rules.Sale(True, "REFUNDED", PRICE, "BRL", HOTMART_PRODUCT),
            purchase(),
            0,
            ("confirmed", "sale_confirmed"),
        ),
        (SOLD, purchase(amount=PRICE + Decimal("1.50")), 0, ("confirmed", "sale_confirmed")),
        (SOLD, purchase(amount=FORGED_VALUE), 0, ("rejected", "amount_mismatch")),
        (SOLD, purchase(product="42"), 0, ("rejected", "product_mismatch")),
        (SOLD, purchase(currency="USD"), 0, ("rejected", "currency_mismatch")),
        (rules.Sale(False), purchase(), 0, ("pending", "not_found_yet")),
        (rules.Sale(False), purchase(), 16, ("rejected", "not_found_at_gateway")),
        (
            rules.Sale(True, "WAITING_PAYMENT", PRICE, "BRL", HOTMART_PRODUCT),
            purchase(),
            0,
            ("pending", "not_paid_yet"),
        ),
        (rules.Sale(True, "WAITING_PAYMENT", PRICE), purchase(), 61, ("rejected", "not_paid_at_gateway")),
        (rules.Sale(True, "CANCELLED", PRICE), purchase(), 0, ("rejected", "not_paid_at_gateway")),
        (
            rules.Sale(True, "paid", PRICE, "BRL", "uuid-1"),
            purchase("kiwify", product="uuid-1"),
            0,
            ("confirmed", "sale_confirmed"),
        ),
        (rules.Sale(True, "refused", PRICE), purchase("kiwify"), 0, ("rejected", "not_paid_at_gateway")),
    ],
)
def test_sales_api_check(sale, p, age, expected) -> None:
    verdict = rules.check_against_sale(
        p, sale, first_checked_at=NOW - timedelta(minutes=age), now=NOW, limits=LIMITS
    )
    assert (verdict.outcome, verdict.reason) == expected


def test_failing_sales_api_is_retried_then_the_funnels_decide() -> None:
    def verdict(age, p, ref):
        return rules.api_error_verdict(
            p, ref, first_checked_at=NOW - timedelta(minutes=age), now=NOW, limits=LIMITS
        )

    assert (verdict(59, purchase(), REFERENCE).outcome, verdict(59, purchase(), REFERENCE).reason) == (
        "pending",
        "sales_api_error",
    )
    assert verdict(61, purchase(), REFERENCE).outcome == "plausible"
    assert verdict(61, purchase(amount=FORGED_VALUE), REFERENCE).reason == "amount_out_of_range"
    assert (
        verdict(61, purchase(), rules.Reference()).outcome,
        verdict(61, purchase(), rules.Reference()).reason,
    ) == (
        "unverifiable",
        "sales_api_unavailable",
    )


def test_only_verified_or_policy_sent_outcomes_are_dispatchable_and_anomalies_are_counted() -> None:
    for outcome in ("confirmed", "plausible", "signed"):
        assert rules.dispatchable(outcome, "hold")
    for outcome in ("rejected", "pending"):
        assert not rules.dispatchable(outcome, "send")
    assert rules.dispatchable("unverifiable", "send") and not rules.dispatchable("unverifiable", "hold")
    assert rules.is_anomaly("rejected", "amount_out_of_range", False)
    assert rules.is_anomaly("unverifiable", "no_reference", False)  # held
    assert rules.is_anomaly("unverifiable", "sales_api_unavailable", True)
    assert not rules.is_anomaly("unverifiable", "no_reference", True)  # nothing configured: reported only
    assert not rules.is_anomaly("pending", "not_found_yet", False)


def test_source_allowlist() -> None:
    lists = parse_allowlists("hotmart=203.0.113.0/24, 2001:db8::/32 ; perfectpay=198.51.100.7")
    assert source_allowed("hotmart", "203.0.113.200", lists)
    assert source_allowed("hotmart", "2001:db8::1", lists)
    assert not source_allowed("hotmart", "198.51.100.7", lists)
    assert not source_allowed("perfectpay", None, lists) and not source_allowed("perfectpay", "x", lists)
    assert source_allowed("kiwify", "192.0.2.1", lists)  # not listed: any address
    for bad in ("hotmart", "hotmart=", "hotmart=not-an-ip", "=1.2.3.4"):
        with pytest.raises(ValueError):
            parse_allowlists(bad)


def test_sales_api_credentials_are_validated_without_echoing_them(conn, make_tenant) -> None:
    assert (
        parse_credentials("kiwify_api", '{"client_id":"a","client_secret":"b","account_id":"c"}').account_id
        == "c"
    )
    with pytest.raises(CredentialsError, match="account_id") as err:
        parse_credentials("kiwify_api", '{"client_id":"a","client_secret":"s3cr3t"}')
    assert "s3cr3t" not in str(err.value)
    tenant_id, _ = make_tenant()
    with pytest.raises(tenants.TenantError, match="JSON object"):
        tenants.set_secret(conn, tenant_id, "hotmart_api", "not json")
    tenants.set_secret(conn, tenant_id, "hotmart_api", '{"client_id":"a","client_secret":"b"}')
    stored = conn.execute(
        "SELECT secret_ciphertext FROM core.tenant_secrets WHERE tenant_id = %s AND kind = 'hotmart_api'",
        (tenant_id,),
    ).fetchone()[0]
    assert stored.startswith("gAAAA") and "client_secret" not in stored


# --- the sales-API clients against the fake (its contract) ---------------------------------------------


@pytest.fixture(scope="module")
def sales_api():
    with SalesApiServer() as server:
        yield server


def test_hotmart_client_against_the_fake(sales_api) -> None:
    sales_api.state.hotmart_clients["hm-id"] = "hm-secret"
    sales_api.state.add_hotmart_sale("HPCLIENT1", product_id=int(HOTMART_PRODUCT), price=PRICE)
    good = parse_credentials("hotmart_api", '{"client_id":"hm-id","client_secret":"hm-secret"}')
    with httpx.Client() as http:
        client = HotmartSales(good, http, api_url=sales_api.url, auth_url=sales_api.url)
        assert client.lookup("HPCLIENT1") == rules.Sale(True, "APPROVED", PRICE, "BRL", HOTMART_PRODUCT)
        assert client.lookup("HPFORGED") == rules.Sale(False)
        sales_api.state.fail_next = 1
        with pytest.raises(SalesApiError, match="503"):
            client.lookup("HPCLIENT1")
        client._token = "revoked"
        assert client.lookup("HPCLIENT1").found
        wrong = parse_credentials("hotmart_api", '{"client_id":"hm-id","client_secret":"nope"}')
        with pytest.raises(SalesApiError, match="token request refused") as err:
            HotmartSales(wrong, http, api_url=sales_api.url, auth_url=sales_api.url).lookup("HPCLIENT1")
        assert "nope" not in str(err.value)


def test_kiwify_client_against_the_fake(sales_api) -> None:
    sales_api.state.kiwify_clients["kw-id"] = ("kw-secret", "acct-1")
    sales_api.state.add_kiwify_sale(
        "order-uuid-1", account_id="acct-1", product_id="prod-uuid", charge_amount=19700
    )
    creds = parse_credentials(
        "kiwify_api", '{"client_id":"kw-id","client_secret":"kw-secret","account_id":"acct-1"}'
    )
    with httpx.Client() as http:
        client = KiwifySales(creds, http, api_url=sales_api.url)
        assert client.lookup("order-uuid-1") == rules.Sale(True, "paid", PRICE, "BRL", "prod-uuid")
        assert client.lookup("order-uuid-2") == rules.Sale(False)
        other = parse_credentials(
            "kiwify_api", '{"client_id":"kw-id","client_secret":"kw-secret","account_id":"x"}'
        )
        with pytest.raises(SalesApiError, match="credentials refused"):
            KiwifySales(other, http, api_url=sales_api.url).lookup("order-uuid-1")


# --- the attack, end to end: signed webhook -> ingest -> micro-batch -> verification -> dispatch -----------


@pytest.fixture(scope="module")
def graph():
    with MockServer(MockConfig(seed=3)) as server:
        yield server


@pytest.fixture
def env(setenv, graph, sales_api):
    setenv("TRACKAI_META_GRAPH_URL", graph.url)
    for name in ("HOTMART_API_URL", "HOTMART_AUTH_URL", "KIWIFY_API_URL"):
        setenv(f"TRACKAI_VERIFY_{name}", sales_api.url)
    return graph, sales_api


@pytest.fixture(scope="module")
def ingest(pg_url):
    app = create_app(Settings(), database_url=db.with_user(pg_url, "trackai_app_rw"))
    with TestClient(app, client=("203.0.113.9", 50000)) as client:
        yield client


def deliver(ingest, gateway, tenant_id, secret, order_id, amount, product_id) -> None:
    """A delivery signed with the tenant's real token: exactly what an attacker with a leaked token sends."""
    payload = build_payload(
        gateway, order_id=order_id, amount=amount, product_id=product_id, email="b@example.com"
    )
    headers, query, body = sign_request(gateway, secret, json.dumps(payload).encode())
    response = ingest.post(
        f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers, params=query
    )
    assert response.status_code == 200, response.text  # the token is valid: ingest cannot tell


def pipeline(pg_url, conn) -> dict:
    run_batch(pg_url, mode="incremental")
    return run_dispatch(conn, sleep=NO_SLEEP)


def sent(graph, tenant_id, *order_ids) -> dict[str, bool]:
    delivered = set(graph.event_ids())
    return {o: event_id(tenant_id, o) in delivered for o in order_ids}


def verdict_of(conn, tenant_id, order_id) -> tuple:
    return conn.execute(
        "SELECT outcome, reason, method, dispatchable FROM core.purchase_verifications WHERE tenant_id = %s AND order_id = %s",
        (tenant_id, order_id),
    ).fetchone()


def test_forged_hotmart_delivery_is_refused_by_the_sales_api_and_never_reaches_meta(
    conn, pg_url, make_tenant, ingest, env, setenv
) -> None:
    graph, sales_api = env
    tenant_id, secrets = make_tenant("Hotmart API")
    sales_api.state.hotmart_clients["hm-e2e"] = "hm-e2e-secret"
    tenants.set_secret(
        conn, tenant_id, "hotmart_api", '{"client_id":"hm-e2e","client_secret":"hm-e2e-secret"}'
    )
    sales_api.state.add_hotmart_sale("HPGENUINE1", product_id=int(HOTMART_PRODUCT), price=PRICE)
    deliver(ingest, "hotmart", tenant_id, secrets["hotmart"], "HPGENUINE1", PRICE, HOTMART_PRODUCT)
    deliver(ingest, "hotmart", tenant_id, secrets["hotmart"], "HPFORGED01", FORGED_VALUE, HOTMART_PRODUCT)

    pipeline(pg_url, conn)
    assert sent(graph, tenant_id, "HPGENUINE1", "HPFORGED01") == {"HPGENUINE1": True, "HPFORGED01": False}
    assert verdict_of(conn, tenant_id, "HPGENUINE1") == ("confirmed", "sale_confirmed", "sales_api", True)
    assert verdict_of(conn, tenant_id, "HPFORGED01") == ("pending", "not_found_yet", "sales_api", False)

    setenv("TRACKAI_VERIFY_NOT_FOUND_GRACE_MINUTES", "0")  # the grace for Hotmart's own delay is over
    pipeline(pg_url, conn)
    assert verdict_of(conn, tenant_id, "HPFORGED01") == (
        "rejected",
        "not_found_at_gateway",
        "sales_api",
        False,
    )
    assert not sent(graph, tenant_id, "HPFORGED01")["HPFORGED01"]
    assert (
        conn.execute(
            "SELECT count(*) FROM ops.dispatch_queue WHERE event_id = %s",
            (event_id(tenant_id, "HPFORGED01"),),
        ).fetchone()[0]
        == 0
    )

    from dagster_project.defs.verification.alarm import evaluate

    alarm = evaluate(conn, get_settings().verify)
    assert not alarm.passed and alarm.severity == "WARN" and alarm.value >= 1
    assert alarm.details["by_reason"]["rejected:not_found_at_gateway"] >= 1
    assert alarm.details["by_tenant"][tenant_id] == 1


@pytest.mark.parametrize(
    ("gateway", "product"), [("perfectpay", PERFECTPAY_PRODUCT), ("hotmart", HOTMART_PRODUCT)]
)
def test_forged_delivery_without_api_credentials_is_refused_by_the_funnels(
    conn, pg_url, make_tenant, ingest, env, gateway, product
) -> None:
    graph, _ = env
    tenant_id, secrets = make_tenant(f"{gateway} funnels")
    store.add_funnel(conn, tenant_id, "Curso X", {product: [(PRICE, "BRL")]})
    genuine, forged = f"{gateway[:2].upper()}GEN{tenant_id[:6]}", f"{gateway[:2].upper()}FRG{tenant_id[:6]}"
    deliver(ingest, gateway, tenant_id, secrets[gateway], genuine, PRICE, product)
    deliver(ingest, gateway, tenant_id, secrets[gateway], forged, FORGED_VALUE, product)

    pipeline(pg_url, conn)
    assert sent(graph, tenant_id, genuine, forged) == {genuine: True, forged: False}
    assert verdict_of(conn, tenant_id, genuine) == ("plausible", "funnel_product_and_price", "funnel", True)
    assert verdict_of(conn, tenant_id, forged) == ("rejected", "amount_out_of_range", "funnel", False)


def test_a_forged_update_of_a_genuine_order_is_verified_again(conn, pg_url, make_tenant, ingest, env) -> None:
    """Same order id, new delivery with value 99,999 before dispatch: the verdict covered other values."""
    graph, _ = env
    tenant_id, secrets = make_tenant("Perfect Pay update")
    store.add_funnel(conn, tenant_id, "Curso X", {PERFECTPAY_PRODUCT: [(PRICE, "BRL")]})
    deliver(ingest, "perfectpay", tenant_id, secrets["perfectpay"], "PPCPUPDATE1", PRICE, PERFECTPAY_PRODUCT)
    run_batch(pg_url, mode="incremental")
    verify_purchases(conn)
    assert verdict_of(conn, tenant_id, "PPCPUPDATE1")[0] == "plausible"
    payload = build_payload(
        "perfectpay", order_id="PPCPUPDATE1", amount=FORGED_VALUE, product_id=PERFECTPAY_PRODUCT
    )
    payload["sale_status_enum"], payload["sale_status_enum_key"] = 8, "authorized"  # a new delivery key
    headers, _, body = sign_request("perfectpay", secrets["perfectpay"], json.dumps(payload).encode())
    assert (
        ingest.post(f"/api/v1/webhooks/perfectpay/{tenant_id}", content=body, headers=headers).status_code
        == 200
    )

    pipeline(pg_url, conn)
    assert not sent(graph, tenant_id, "PPCPUPDATE1")["PPCPUPDATE1"]
    assert verdict_of(conn, tenant_id, "PPCPUPDATE1")[:2] == ("rejected", "amount_out_of_range")


def test_unverifiable_purchases_follow_the_tenant_policy(conn, pg_url, make_tenant, ingest, env) -> None:
    graph, _ = env
    sender, _ = make_tenant("No reference, default policy")
    holder, _ = make_tenant("No reference, hold")
    store.set_policy(conn, holder, "hold")
    for tenant_id in (sender, holder):
        secret = tenants.get_secret(conn, tenant_id, "perfectpay")
        deliver(ingest, "perfectpay", tenant_id, secret, f"PPCPPOL{tenant_id[:8]}", PRICE, PERFECTPAY_PRODUCT)
    pipeline(pg_url, conn)
    assert sent(graph, sender, f"PPCPPOL{sender[:8]}") == {f"PPCPPOL{sender[:8]}": True}
    assert verdict_of(conn, sender, f"PPCPPOL{sender[:8]}") == ("unverifiable", "no_reference", "none", True)
    assert sent(graph, holder, f"PPCPPOL{holder[:8]}") == {f"PPCPPOL{holder[:8]}": False}
    assert verdict_of(conn, holder, f"PPCPPOL{holder[:8]}") == ("unverifiable", "no_reference", "none", False)

    store.add_funnel(conn, holder, "Curso X", {PERFECTPAY_PRODUCT: [(PRICE, "BRL")]})  # the seller configures
    pipeline(pg_url, conn)
    assert sent(graph, holder, f"PPCPPOL{holder[:8]}") == {f"PPCPPOL{holder[:8]}": True}


def test_a_failing_sales_api_keeps_the_purchase_then_the_funnels_decide(
    conn, pg_url, make_tenant, ingest, env, setenv
) -> None:
    graph, sales_api = env
    tenant_id, secrets = make_tenant("Hotmart API down")
    sales_api.state.hotmart_clients["hm-down"] = "hm-down-secret"
    tenants.set_secret(
        conn, tenant_id, "hotmart_api", '{"client_id":"hm-down","client_secret":"hm-down-secret"}'
    )
    store.add_funnel(conn, tenant_id, "Curso X", {HOTMART_PRODUCT: [(PRICE, "BRL")]})
    deliver(ingest, "hotmart", tenant_id, secrets["hotmart"], "HPDOWN0001", PRICE, HOTMART_PRODUCT)
    run_batch(pg_url, mode="incremental")
    sales_api.state.fail_next = 1
    verify_purchases(conn, tenant_id=tenant_id)
    assert verdict_of(conn, tenant_id, "HPDOWN0001") == ("pending", "sales_api_error", "sales_api", False)
    detail = conn.execute(
        "SELECT detail, attempts FROM core.purchase_verifications WHERE order_id = 'HPDOWN0001'"
    ).fetchone()
    assert detail == ("sales API unavailable: HTTP 503", 1)

    setenv("TRACKAI_VERIFY_API_GIVE_UP_MINUTES", "0")
    sales_api.state.fail_next = 1
    run_dispatch(conn, sleep=NO_SLEEP)
    assert verdict_of(conn, tenant_id, "HPDOWN0001") == (
        "plausible",
        "funnel_product_and_price",
        "funnel",
        True,
    )
    assert sent(graph, tenant_id, "HPDOWN0001") == {"HPDOWN0001": True}


def test_verification_asset_and_alarm_in_dagster(conn, pg_url, make_tenant, ingest, env) -> None:
    import dagster as dg

    from dagster_project.defs.verification import purchase_verification_anomalies, purchase_verifications
    from dagster_project.lib.resources import PostgresResource

    _, _ = env
    tenant_id, secrets = make_tenant("Dagster")
    store.add_funnel(conn, tenant_id, "Curso X", {PERFECTPAY_PRODUCT: [(PRICE, "BRL")]})
    deliver(
        ingest,
        "perfectpay",
        tenant_id,
        secrets["perfectpay"],
        "PPCPDAGSTER",
        FORGED_VALUE,
        PERFECTPAY_PRODUCT,
    )
    run_batch(pg_url, mode="incremental")
    # An instance of our own, entered: the materialization must not depend on instance state that
    # earlier tests left behind in Dagster's context variables.
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [purchase_verifications, purchase_verification_anomalies],
            resources={"postgres": PostgresResource(url=pg_url)},
            instance=instance,
        )
    assert result.success
    assert verdict_of(conn, tenant_id, "PPCPDAGSTER")[:2] == ("rejected", "amount_out_of_range")
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["rejected"].value >= 1 and isinstance(check.metadata["anomalies"].value, int)
    assert check.metadata["runbook"].value.endswith("purchase-verification.md")


def test_ingest_refuses_a_listed_gateway_from_outside_its_allowlist(pg_url, make_tenant) -> None:
    """A leaked hottok used from the attacker's own address: refused before the body is read."""
    tenant_id, secrets = make_tenant("Allowlist")
    settings = Settings(verify={"source_allowlist": "hotmart=198.51.100.0/24"})

    def post(address: str, gateway: str, order_id: str):
        app = create_app(settings, database_url=db.with_user(pg_url, "trackai_app_rw"))
        payload = build_payload(gateway, order_id=order_id, amount=PRICE, email="b@example.com")
        headers, _, body = sign_request(gateway, secrets[gateway], json.dumps(payload).encode())
        with TestClient(app, client=(address, 50000)) as client:
            return client.post(f"/api/v1/webhooks/{gateway}/{tenant_id}", content=body, headers=headers)

    refused = post("203.0.113.9", "hotmart", "HPALLOW01")
    assert refused.status_code == 403, refused.text
    assert post("203.0.113.9", "perfectpay", "PPCPALLOW1").status_code == 200  # gateway not listed
    assert post("198.51.100.7", "hotmart", "HPALLOW01").json() == {"status": "accepted"}
