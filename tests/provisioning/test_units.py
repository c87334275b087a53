"""Pure rules, client details and the fakes' paging: slugs and names, the template, the publish decision,
Retry-After parsing, credentials through the secrets backend, paging through Cloudflare's SDK and Stape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from trackai import secrets
from trackai.core import provisioning_plan as plan
from trackai.core.event_id import event_id
from trackai.core.thankyou_snippet import EVENT_ID_JS, gtm_loader, render_thankyou_snippet
from trackai.provisioning import credentials, saga
from trackai.provisioning.cloudflare_dns import CloudflareDns
from trackai.provisioning.errors import ApiError, ConfigurationMissing
from trackai.provisioning.http import retry_after_seconds
from trackai.provisioning.stape import StapeClient
from trackai.settings import Settings
from trackai_cli.provision_fakes.server import ProvisionFakes

TENANT = "7124FF2D-0000-4000-8000-000000000001"


def test_slug_host_and_names() -> None:
    assert plan.slugify("Loja Ção & Cia!", TENANT) == "loja-cao-cia-7124ff"
    assert plan.slugify("***", TENANT) == "seller-7124ff"
    assert len(plan.slugify("x" * 200, TENANT)) <= 40
    assert plan.hostname("loja-1", "Example.COM.") == "loja-1.track.example.com"
    assert plan.resource_name("loja-1") == "trackai-loja-1"
    assert plan.zone_candidates("sellers.example.com") == ["sellers.example.com", "example.com"]
    assert plan.compensation_order(["cloudflare_dns", "stape_container", "gtm_container"]) == [
        "gtm_container",
        "stape_container",
        "cloudflare_dns",
    ]
    for bad in ("-loja", "loja-", "Loja", "lo ja", "a" * 41, ""):
        with pytest.raises(ValueError):
            plan.check_slug(bad)
    with pytest.raises(ValueError, match="CF_BASE_DOMAIN"):
        plan.hostname("loja", "")


def test_template_fills_every_field_and_refuses_unknown_ones() -> None:
    values = {
        "pixel_id": "123",
        "server_url": "https://h",
        "domain": "d",
        "tenant_id": "t",
        "event_id_js": EVENT_ID_JS,
        "measurement_id": "G-1",
    }
    rendered = plan.render_template(saga.load_template(), values)
    assert "{{trackai." not in json.dumps(rendered)
    assert "{{TrackAI - Order ID}}" in json.dumps(rendered)  # GTM's own references stay
    with pytest.raises(KeyError, match="pixel_id"):
        plan.render_template({"x": "{{trackai.pixel_id}}"}, {})


def test_diff_fingerprint_follows_content_not_ids() -> None:
    a = [
        {
            "changeStatus": "added",
            "tag": {"name": "T", "type": "html", "parameter": [1], "tagId": "1", "fingerprint": "9"},
        }
    ]
    b = [
        {
            "changeStatus": "added",
            "tag": {"name": "T", "type": "html", "parameter": [1], "tagId": "7", "fingerprint": "3"},
        }
    ]
    c = [{"changeStatus": "added", "tag": {"name": "T", "type": "html", "parameter": [2]}}]
    fp = plan.diff_fingerprint
    assert fp(plan.workspace_diff(a)) == fp(plan.workspace_diff(b)) != fp(plan.workspace_diff(c))


def test_publish_decision() -> None:
    now = datetime.now(UTC)
    assert plan.publish_decision(None, "f", "f", 3).reason == "test_event_missing"
    assert plan.publish_decision(now, None, "f", 3).reason == "approval_missing"
    assert plan.publish_decision(now, "e", "f", 3).reason == "diff_changed"
    assert plan.publish_decision(now, "f", "f", 3) == plan.PublishDecision(
        True, "ok", plan.publish_decision(now, "f", "f", 3).message
    )


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=7), usegmt=True), now) == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None


def test_credentials_come_through_the_secrets_backend(setenv) -> None:
    settings = Settings(env="development")
    token = secrets.encrypt("cf-secret", settings)
    assert credentials.resolve(token, "CF_API_TOKEN", settings) == "cf-secret"
    assert credentials.resolve("plain", "CF_API_TOKEN", settings) == "plain"  # development only
    with pytest.raises(ConfigurationMissing, match="CF_API_TOKEN is not set"):
        credentials.resolve("", "CF_API_TOKEN", settings)
    production = Settings(env="production", database_url="postgresql://u@db/trackai")
    with pytest.raises(ConfigurationMissing, match="Fernet token"):
        credentials.resolve("plain", "STAPE_API_KEY", production)


def test_thankyou_snippet_and_loader_shapes() -> None:
    script = render_thankyou_snippet(TENANT)
    assert TENANT.lower() in script and TENANT not in script  # the canonical tenant id is lowercase
    assert "trackai.v1|" in EVENT_ID_JS
    assert event_id(TENANT.lower(), "o-1") == event_id(TENANT, "o-1")
    assert "https://h.track.x/gtm.js?id=" in gtm_loader("https://h.track.x", "GTM-ABC1234")
    with pytest.raises(ValueError):
        gtm_loader("http://h", "GTM-ABC1234")
    with pytest.raises(ValueError):
        gtm_loader("https://h", "GTM-<script>")


def test_paging_through_the_cloudflare_sdk_and_stape() -> None:
    with ProvisionFakes() as fakes:
        p = fakes.provision_settings()
        dns = CloudflareDns(p["cf_api_token"], p["cf_api_url"])
        stape = StapeClient(p["stape_api_key"], p["stape_api_url"])
        try:
            zone = dns.zone_id(fakes.base_domain)
            for n in range(120):
                dns.ensure_cname(zone, f"r{n}.track.{fakes.base_domain}", "t.example")
            listed = list(dns.client.dns.records.list(zone_id=zone, per_page=50))
            assert len(listed) == 120
            assert (
                fakes.cloudflare.faults.count("GET", r"/dns_records$") >= 3
            )  # pages 1, 2, 3 (and an empty 4th)
            for n in range(55):
                stape.create_container(f"c{n}", "global", f"c{n}.example")
            found = stape.find_container("c54")  # on the second page of 50
            assert found is not None and found.name == "c54"
            assert stape.find_container("missing") is None
        finally:
            dns.close()
            stape.close()


def test_gtm_gets_a_new_token_once_when_its_token_is_refused() -> None:
    from trackai.provisioning.gtm import GtmClient

    with ProvisionFakes() as fakes:
        p = fakes.provision_settings()
        gtm = GtmClient(json.loads(p["gtm_service_account"]), p["gtm_api_url"])
        try:
            assert gtm.find_container(p["gtm_account_id"], "none") is None
            fakes.gtm.tokens.clear()  # the token is revoked
            assert gtm.find_container(p["gtm_account_id"], "none") is None
            assert fakes.gtm.faults.count("GET", r"/containers$", 401) == 1
            fakes.gtm.faults.add("GET", r"/containers$", 401, times=2)  # refused even with a new token
            with pytest.raises(ApiError, match="401"):
                gtm.find_container(p["gtm_account_id"], "none")
        finally:
            gtm.close()
