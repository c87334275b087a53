"""Cloudflare API v4 through the official ``cloudflare`` package (httpx-based, pointed at
TRACKAI_PROVISION_CF_API_URL): zone lookup, DNS record read/create/update/delete, idempotent by name.

The SDK retries 429 (waiting Retry-After up to 60 s), 408/409 and 5xx and timeouts itself
(``max_retries``). Records are always ``proxied=false``: Stape issues the certificate for the custom
domain, and Cloudflare's proxy in front of it breaks that (the seeds' rule)."""

from __future__ import annotations

from dataclasses import dataclass

import cloudflare

from trackai.core.provisioning_plan import zone_candidates
from trackai.provisioning.errors import ApiError

SERVICE = "cloudflare"


@dataclass(frozen=True)
class DnsRecord:
    record_id: str
    name: str
    content: str
    proxied: bool


def _error(exc: cloudflare.APIError) -> ApiError:
    status = getattr(exc, "status_code", None)
    body = getattr(exc, "body", None)
    errors = body.get("errors") if isinstance(body, dict) else None
    message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors or [] if isinstance(e, dict))
    retryable = isinstance(exc, cloudflare.APIConnectionError) or (
        status is not None and (status == 429 or status >= 500)
    )
    return ApiError(SERVICE, status, message or str(exc), retryable=retryable)


class CloudflareDns:
    def __init__(self, api_token: str, base_url: str, *, timeout: float = 10.0, max_retries: int = 4) -> None:
        self.client = cloudflare.Cloudflare(
            api_token=api_token, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def close(self) -> None:
        self.client.close()

    def zone_id(self, base_domain: str) -> str:
        """The zone that holds ``base_domain``: the base domain itself or its nearest parent zone."""
        try:
            for candidate in zone_candidates(base_domain):
                for zone in self.client.zones.list(name=candidate, per_page=50):
                    if zone.name == candidate:
                        return zone.id
        except cloudflare.APIError as exc:
            raise _error(exc) from exc
        raise ApiError(SERVICE, None, f"no Cloudflare zone holds {base_domain} (is CF_BASE_DOMAIN right?)")

    def find_cname(self, zone_id: str, name: str) -> DnsRecord | None:
        try:
            for record in self.client.dns.records.list(zone_id=zone_id, name={"exact": name}, per_page=100):
                if record.name == name:
                    return DnsRecord(record.id, record.name, record.content or "", bool(record.proxied))
        except cloudflare.APIError as exc:
            raise _error(exc) from exc
        return None

    def ensure_cname(self, zone_id: str, name: str, target: str) -> tuple[DnsRecord, bool]:
        """The CNAME ``name`` → ``target`` with proxied=false: found (and corrected when it points elsewhere or
        is proxied) or created. Returns the record and whether it was created now."""
        existing = self.find_cname(zone_id, name)
        try:
            if existing is not None:
                if existing.content != target or existing.proxied:
                    record = self.client.dns.records.edit(
                        existing.record_id,
                        zone_id=zone_id,
                        name=name,
                        type="CNAME",
                        content=target,
                        proxied=False,
                        ttl=1,
                    )
                    return DnsRecord(
                        record.id, record.name, record.content or "", bool(record.proxied)
                    ), False
                return existing, False
            record = self.client.dns.records.create(
                zone_id=zone_id,
                name=name,
                type="CNAME",
                content=target,
                proxied=False,
                ttl=1,
                comment="Track AI first-party tracking domain (docs/provisioning.md)",
            )
        except cloudflare.APIError as exc:
            raise _error(exc) from exc
        return DnsRecord(record.id, record.name, record.content or "", bool(record.proxied)), True

    def delete(self, zone_id: str, record_id: str) -> bool:
        """Delete a record; False when it was already gone."""
        try:
            self.client.dns.records.delete(record_id, zone_id=zone_id)
        except cloudflare.NotFoundError:
            return False
        except cloudflare.APIError as exc:
            raise _error(exc) from exc
        return True
