"""Everything held about one buyer of one tenant (LGPD Art. 18): find it, export it, erase it.

The buyer is named by an email or a phone, hashed exactly as the ingest service hashes them
(``trackai.core.pii``): the plaintext is never stored nor logged. From the hash the footprint is followed:

1. sessions: ``landing.identities`` and ``landing.clicks`` carrying the hash, the sessions of the buyer's
   conversions, and the session of a click matched to the buyer's orders deterministically or
   semi-deterministically (a probabilistic match may be another visitor behind the same network: its
   match row goes, the click stays);
2. clicks: every click of those sessions or carrying the hash;
3. orders: conversions and purchases carrying the hash or one of those sessions; every conversion of
   those orders and the webhook deliveries they came from;
4. events: the orders' event_ids (``core.dedupe_registry``), their queue rows, attempts and DLQ rows;
5. quarantine: the tenant's encrypted quarantined bodies are decrypted in memory and searched for the
   email/phone (any email or phone number in them is hashed and compared);
6. the Parquet archive (``trackai.lifecycle``): archived days of clicks, identities and conversions.

Erasure keeps only what a ledger must keep (docs/privacy.md, "Deletion policy per table", contract C3):
the event_id tombstones in ``core.dedupe_registry`` (so a replay or a redelivery can never send the
purchase again), the queue row without its payload (it keeps dispatch from queueing the event again),
``ops.dispatch_attempts`` (no personal data; billing counts success attempts, C2), ``billing.*`` and the
webhook deliveries' idempotency keys with an emptied payload (a gateway retry stays a duplicate).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from trackai import secrets
from trackai.core import pii
from trackai.settings import Settings, get_settings

log = logging.getLogger("trackai.privacy")

MATCHED_STAGES_OF_THE_BUYER = ("deterministic", "semi_deterministic")
_EMAILS = re.compile(r"[^\s\"'<>,;:(){}\[\]]+@[^\s\"'<>,;:(){}\[\]]+\.[a-zA-Z]{2,}")
_PHONES = re.compile(r"\+?\d[\d\s().-]{7,22}\d")

META_NO_DELETION = {
    "pt-BR": (
        "A Meta não oferece meio de apagar eventos já enviados pela API de Conversões: os eventos listados "
        "em 'destinatários' permanecem sob a responsabilidade da Meta (controladora independente desses "
        "dados), conforme a política de dados dela. Apagamos tudo o que mantemos; o que já foi enviado à Meta "
        "não pode ser recolhido por nós."
    ),
    "en": (
        "Meta offers no way to delete events already sent through the Conversions API: the events listed "
        "under 'recipients' remain with Meta (an independent controller of that data) under its data "
        "policy. We erase everything we hold; what was already sent to Meta cannot be recalled by us."
    ),
}


class SubjectError(ValueError):
    """The email or phone cannot name a buyer (not a valid email / personal phone number)."""


@dataclass(frozen=True)
class Subject:
    tenant_id: str
    kind: str  # email | phone
    hash: str  # SHA-256 hex, exactly as stored by ingest

    @property
    def column(self) -> str:
        return f"{self.kind}_hash"


def subject_of(tenant_id: str, *, email: str | None = None, phone: str | None = None) -> Subject:
    if bool(email) == bool(phone):
        raise SubjectError("give exactly one of --email or --phone")
    if email:
        hashed = pii.hash_email(email)
        if not hashed:
            raise SubjectError("not a valid email address")
        return Subject(str(tenant_id), "email", hashed)
    hashed = pii.hash_phone(phone)
    if not hashed:
        raise SubjectError("not a valid personal phone number (Brazilian numbers need the DDD)")
    return Subject(str(tenant_id), "phone", hashed)


def subject_digest(subject: Subject, settings: Settings | None = None) -> str:
    """What the request log keeps of the subject: an HMAC under TRACKAI_SECRET_KEY, not the Meta hash."""
    key = hashlib.sha256(b"trackai-privacy-subject:" + secrets._key(settings or get_settings())).digest()
    return hmac.new(key, f"{subject.kind}:{subject.hash}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Footprint:
    subject: Subject
    sessions: set[str] = field(default_factory=set)
    click_ids: set[int] = field(default_factory=set)
    orders: set[tuple[str, str]] = field(default_factory=set)  # (gateway, order_id)
    event_ids: set[str] = field(default_factory=set)
    webhook_event_ids: set[int] = field(default_factory=set)
    quarantine_ids: set[int] = field(default_factory=set)
    archive: dict[str, list[dict]] = field(default_factory=dict)  # parent -> rows found in archived days
    archive_days: dict[str, set[str]] = field(default_factory=dict)  # parent -> days holding such rows
    archive_checked: bool = False

    def order_keys(self) -> list[str]:
        return sorted(f"{g}\x1f{o}" for g, o in self.orders)


# --- locating ------------------------------------------------------------------------------------------


def locate(conn: psycopg.Connection, subject: Subject, settings: Settings | None = None) -> Footprint:
    settings = settings or get_settings()
    fp = Footprint(subject)
    tenant, col, h = subject.tenant_id, subject.column, subject.hash
    archive_rows = _archive_lookup(subject, settings, fp)
    fp.sessions |= _set(
        conn,
        f"SELECT DISTINCT session_id FROM landing.identities WHERE tenant_id = %s AND {col} = %s",
        tenant,
        h,
    )
    fp.sessions |= _set(
        conn, f"SELECT DISTINCT session_id FROM landing.clicks WHERE tenant_id = %s AND {col} = %s", tenant, h
    )
    for parent in ("landing.identities", "landing.clicks"):
        fp.sessions |= {r["session_id"] for r in archive_rows.get(parent, []) if r.get(col) == h}
    # Orders: by hash, then by the buyer's sessions (a checkout that carried the landing session).
    for gateway, order_id in conn.execute(
        f"""SELECT DISTINCT gateway, order_id FROM landing.conversions WHERE tenant_id = %s AND {col} = %s
            UNION SELECT gateway, order_id FROM core.purchases WHERE tenant_id = %s AND {col} = %s""",
        (tenant, h, tenant, h),
    ):
        fp.orders.add((gateway, order_id))
    fp.orders |= {
        (r["gateway"], r["order_id"]) for r in archive_rows.get("landing.conversions", []) if r.get(col) == h
    }
    _orders_of_sessions(conn, fp)
    # The click matched to the buyer's orders with certainty is theirs: its session joins the footprint.
    matched = conn.execute(
        """SELECT c.session_id FROM core.matches m JOIN landing.clicks c
                ON c.tenant_id = m.tenant_id AND c.click_id = m.click_id
            WHERE m.tenant_id = %s AND m.stage = ANY(%s) AND (m.gateway, m.order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)""",
        (tenant, list(MATCHED_STAGES_OF_THE_BUYER), fp.order_keys()),
    ).fetchall()
    new_sessions = {r[0] for r in matched} - fp.sessions
    if new_sessions:
        fp.sessions |= new_sessions
        _orders_of_sessions(conn, fp)
    sessions = sorted(fp.sessions)
    fp.click_ids = _set(
        conn,
        f"SELECT click_id FROM landing.clicks WHERE tenant_id = %s AND ({col} = %s OR session_id = ANY(%s))",
        tenant,
        h,
        sessions,
    )
    rows = conn.execute(
        """SELECT webhook_event_id FROM landing.conversions
            WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)""",
        (tenant, fp.order_keys()),
    ).fetchall()
    fp.webhook_event_ids = {r[0] for r in rows}
    fp.event_ids = _set(
        conn,
        """SELECT event_id FROM core.dedupe_registry WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)
           UNION SELECT event_id FROM core.purchases WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)""",
        tenant,
        fp.order_keys(),
        tenant,
        fp.order_keys(),
    )
    fp.quarantine_ids = _quarantined(conn, subject, settings)
    if fp.archive_checked:  # second pass: sessions and orders found above select more archived rows
        _archive_filter(fp, settings)
    return fp


def _set(conn: psycopg.Connection, query: str, *params: Any) -> set:
    return {r[0] for r in conn.execute(query, params).fetchall()}


def _orders_of_sessions(conn: psycopg.Connection, fp: Footprint) -> None:
    rows = conn.execute(
        """SELECT DISTINCT gateway, order_id FROM landing.conversions WHERE tenant_id = %s AND session_id = ANY(%s)
           UNION SELECT gateway, order_id FROM core.purchases WHERE tenant_id = %s AND session_id = ANY(%s)""",
        (fp.subject.tenant_id, sorted(fp.sessions), fp.subject.tenant_id, sorted(fp.sessions)),
    ).fetchall()
    fp.orders |= {(g, o) for g, o in rows}


def _quarantined(conn: psycopg.Connection, subject: Subject, settings: Settings) -> set[int]:
    """Quarantined bodies are Fernet ciphertext: decrypt each of the tenant's in memory and look for the
    subject's hash, or an email / phone number that hashes to it. Nothing decrypted is kept."""
    found: set[int] = set()
    for qid, ciphertext in conn.execute(
        "SELECT quarantine_id, payload_ciphertext FROM landing.webhook_quarantine WHERE tenant_id = %s",
        (subject.tenant_id,),
    ):
        try:
            text = secrets.decrypt(ciphertext, settings).decode("utf-8", "replace")
        except Exception as exc:  # a body sealed with a retired key: it expires with retention
            log.warning("quarantined body not readable", extra={"error": type(exc).__name__})
            continue
        if subject.hash in text.lower() or _mentions(text, subject):
            found.add(qid)
    return found


def _mentions(text: str, subject: Subject) -> bool:
    if subject.kind == "email":
        return any(pii.hash_email(m) == subject.hash for m in _EMAILS.findall(text))
    candidates = set(_PHONES.findall(text)) | set(re.findall(r"\d{8,15}", text))
    # Perfect Pay splits the phone into area code + number: join adjacent digit runs too.
    runs = re.findall(r"\d{2,13}", text)
    candidates |= {a + b for a, b in itertools.pairwise(runs) if 10 <= len(a + b) <= 13}
    return any(pii.hash_phone(c) == subject.hash for c in candidates)


# --- the archive ---------------------------------------------------------------------------------------

ARCHIVED_PARENTS = ("landing.clicks", "landing.identities", "landing.conversions")


def archive_enabled(settings: Settings) -> bool:
    return bool(settings.lifecycle.s3_bucket)


def _archive_lookup(subject: Subject, settings: Settings, fp: Footprint) -> dict[str, list[dict]]:
    """First pass over the archive: the tenant's archived rows carrying the hash (their sessions and
    orders join the footprint before the database is searched by session and order)."""
    if not archive_enabled(settings):
        return {}
    from trackai.privacy import archive as privacy_archive

    fp.archive_checked = True
    return privacy_archive.find_rows(subject, settings, sessions=(), orders=())


def _archive_filter(fp: Footprint, settings: Settings) -> None:
    """Second pass: every archived row of the hash, the buyer's sessions or their orders."""
    from trackai.privacy import archive as privacy_archive

    found = privacy_archive.find_rows(fp.subject, settings, sessions=fp.sessions, orders=fp.orders)
    for parent, items in found.items():
        if items:
            fp.archive[parent] = items
            fp.archive_days[parent] = {str(r["day"]) for r in items}


# --- export --------------------------------------------------------------------------------------------


def export(conn: psycopg.Connection, fp: Footprint) -> dict[str, Any]:
    """The report: every row held about the buyer, table by table, and who received what."""
    tenant = fp.subject.tenant_id
    keys, sessions = fp.order_keys(), sorted(fp.sessions)
    cur = conn.cursor(row_factory=dict_row)

    def rows(query: str, *params: Any) -> list[dict]:
        return [_plain(r) for r in cur.execute(query, params).fetchall()]

    tenant_row = cur.execute(
        "SELECT name, pixel_id FROM core.tenants WHERE tenant_id = %s", (tenant,)
    ).fetchone()
    data = {
        "landing.identities": rows(
            f"""SELECT session_id, email_hash, phone_hash, seen_at FROM landing.identities
                 WHERE tenant_id = %s AND ({fp.subject.column} = %s OR session_id = ANY(%s)) ORDER BY seen_at""",
            tenant,
            fp.subject.hash,
            sessions,
        ),
        "landing.clicks": rows(
            """SELECT click_id, event_type, session_id, occurred_at, landing_url, referrer, fbclid, fbc, fbp,
                      host(client_ip) AS client_ip, user_agent, email_hash, phone_hash, external_id, utm,
                      bot_reason, consent_denied
                 FROM landing.clicks WHERE tenant_id = %s AND click_id = ANY(%s) ORDER BY occurred_at""",
            tenant,
            sorted(fp.click_ids),
        ),
        "landing.conversions": rows(
            """SELECT gateway, order_id, status, gateway_status, event_time, amount, currency, product_id,
                      session_id, tracking, fbclid, fbc, fbp, host(client_ip) AS client_ip, user_agent,
                      email_hash, phone_hash, is_test
                 FROM landing.conversions WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)
                ORDER BY conversion_id""",
            tenant,
            keys,
        ),
        "landing.webhook_events": rows(
            """SELECT gateway, delivery_key, event_type, received_at, payload_redacted
                 FROM landing.webhook_events WHERE tenant_id = %s AND webhook_event_id = ANY(%s)""",
            tenant,
            sorted(fp.webhook_event_ids),
        ),
        "landing.webhook_quarantine": rows(
            """SELECT gateway, received_at, error, 'encrypted body (not shown)' AS body
                 FROM landing.webhook_quarantine WHERE tenant_id = %s AND quarantine_id = ANY(%s)""",
            tenant,
            sorted(fp.quarantine_ids),
        ),
        "core.purchases": rows(
            """SELECT gateway, order_id, event_id, status, approved_at, amount, currency, product_id, session_id,
                      fbc, fbp, host(client_ip) AS client_ip, user_agent, email_hash, phone_hash, test_reason
                 FROM core.purchases WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)""",
            tenant,
            keys,
        ),
        "core.matches": rows(
            """SELECT gateway, order_id, click_id, stage, score, matched_keys, fbc, fbp, host(client_ip) AS client_ip,
                      user_agent, landing_url, matched_at
                 FROM core.matches WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)""",
            tenant,
            keys,
        ),
        "core.dedupe_registry": rows(
            "SELECT event_id, gateway, order_id, event_name, first_seen_at FROM core.dedupe_registry "
            "WHERE tenant_id = %s AND event_id = ANY(%s)",
            tenant,
            sorted(fp.event_ids),
        ),
        "ops.dispatch_queue": rows(
            "SELECT event_id, pixel_id, status, event_time, sent_at, payload FROM ops.dispatch_queue "
            "WHERE tenant_id = %s AND event_id = ANY(%s)",
            tenant,
            sorted(fp.event_ids),
        ),
        "ops.dispatch_attempts": rows(
            "SELECT event_id, pixel_id, attempt_no, status, http_status, created_at FROM ops.dispatch_attempts "
            "WHERE tenant_id = %s AND event_id = ANY(%s) ORDER BY created_at",
            tenant,
            sorted(fp.event_ids),
        ),
        "ops.dlq": rows(
            "SELECT event_id, reason, error_title, created_at, replayed_at FROM ops.dlq "
            "WHERE tenant_id = %s AND event_id = ANY(%s)",
            tenant,
            sorted(fp.event_ids),
        ),
    }
    for parent, items in fp.archive.items():
        data[f"archive:{parent}"] = [_plain(r) for r in items]
    sent = cur.execute(
        """SELECT pixel_id, event_id, min(created_at) AS sent_at FROM ops.dispatch_attempts
            WHERE tenant_id = %s AND event_id = ANY(%s) AND status = 'success'
            GROUP BY pixel_id, event_id ORDER BY 3""",
        (tenant, sorted(fp.event_ids)),
    ).fetchall()
    recipients = [
        {
            "recipient": "Meta Platforms (Conversions API)",
            "pixel_id": r["pixel_id"],
            "event_id": r["event_id"],
            "event_name": "Purchase",
            "sent_at": r["sent_at"].isoformat(),
        }
        for r in sent
    ]
    return {
        "report": "LGPD Art. 18 data-subject access report",
        "generated_at": datetime.now(UTC).isoformat(),
        "controller": {"tenant_id": tenant, "name": tenant_row["name"] if tenant_row else None},
        "operator": "Track AI (processes the seller's tracking and sends purchases to Meta on its behalf)",
        "subject": {"kind": fp.subject.kind, "sha256": fp.subject.hash},
        "counts": {k: len(v) for k, v in data.items()},
        "archive_searched": fp.archive_checked,
        "recipients": recipients,
        "meta_deletion": META_NO_DELETION,
        "data": data,
    }


def _plain(row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if hasattr(v, "isoformat"):  # datetime, date
            v = v.isoformat()
        elif v is not None and not isinstance(v, (str, int, float, bool, list, dict)):
            v = str(v)
        out[k] = v
    return out


def render_text(report: dict[str, Any]) -> str:
    """The readable report (pt-BR first, English second) sent to the buyer by the seller."""
    lines = [
        "# Relatório de dados pessoais (LGPD, art. 18) / Personal data report",
        "",
        f"Gerado em / generated at: {report['generated_at']}",
        f"Controlador / controller: {report['controller']['name']} ({report['controller']['tenant_id']})",
        f"Operador / processor: {report['operator']}",
        f"Titular / subject: {report['subject']['kind']} (SHA-256 {report['subject']['sha256']})",
        "",
        "## Destinatários / recipients",
    ]
    if report["recipients"]:
        for r in report["recipients"]:
            lines.append(
                f"- {r['recipient']}, pixel {r['pixel_id']}: {r['event_name']} {r['event_id'][:12]}… "
                f"enviado em / sent on {r['sent_at']}"
            )
    else:
        lines.append("- nenhum envio / nothing was sent")
    lines += ["", f"> {report['meta_deletion']['pt-BR']}", f"> {report['meta_deletion']['en']}", ""]
    lines.append("## Dados mantidos / data held")
    for table, items in report["data"].items():
        lines.append(f"### {table} ({len(items)})")
        for item in items:
            lines.append("- " + json.dumps(item, ensure_ascii=False, sort_keys=True, default=str))
    if not report["archive_searched"]:
        lines += ["", "(arquivo Parquet não configurado / no Parquet archive configured)"]
    return "\n".join(lines) + "\n"


# --- erase ---------------------------------------------------------------------------------------------

ERASED = {"_erased": "LGPD data-subject request"}


def erase(conn: psycopg.Connection, fp: Footprint, settings: Settings | None = None) -> dict[str, int]:
    """Delete/anonymise the footprint (policy in the module docstring and docs/privacy.md). The archive is
    rewritten first (a failure there leaves the database untouched, so the request can be re-run); then
    one transaction changes every table. Returns the rows changed per table."""
    settings = settings or get_settings()
    tenant, keys, events = fp.subject.tenant_id, fp.order_keys(), sorted(fp.event_ids)
    counts: dict[str, int] = {}
    if fp.archive:
        from trackai.privacy import archive as privacy_archive

        counts.update(privacy_archive.rewrite_without(conn, fp, settings))
    col, h = fp.subject.column, fp.subject.hash
    sessions, clicks = sorted(fp.sessions), sorted(fp.click_ids)
    steps = [
        (
            "landing.identities",
            f"DELETE FROM landing.identities WHERE tenant_id = %s AND ({col} = %s OR session_id = ANY(%s))",
            (tenant, h, sessions),
        ),
        (
            "landing.clicks",
            f"DELETE FROM landing.clicks WHERE tenant_id = %s AND (click_id = ANY(%s) OR {col} = %s)",
            (tenant, clicks, h),
        ),
        (
            "core.matches",
            "DELETE FROM core.matches WHERE tenant_id = %s AND ((gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)"
            " OR click_id = ANY(%s) AND stage = ANY(%s))",
            (tenant, keys, clicks, list(MATCHED_STAGES_OF_THE_BUYER)),
        ),
        (
            "core.purchase_verifications",
            "DELETE FROM core.purchase_verifications WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)",
            (tenant, keys),
        ),
        (
            "core.purchases",
            "DELETE FROM core.purchases WHERE tenant_id = %s AND (gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)",
            (tenant, keys),
        ),
        (
            "landing.conversions",
            f"DELETE FROM landing.conversions WHERE tenant_id = %s AND ((gateway, order_id) IN (SELECT split_part(k, chr(31), 1), split_part(k, chr(31), 2) FROM unnest(%s::text[]) AS k)"
            f" OR {col} = %s)",
            (tenant, keys, h),
        ),
        (
            "landing.webhook_events",
            "UPDATE landing.webhook_events SET payload_redacted = %s WHERE tenant_id = %s AND webhook_event_id = ANY(%s)",
            (Jsonb(ERASED), tenant, sorted(fp.webhook_event_ids)),
        ),
        (
            "landing.webhook_quarantine",
            "DELETE FROM landing.webhook_quarantine WHERE tenant_id = %s AND quarantine_id = ANY(%s)",
            (tenant, sorted(fp.quarantine_ids)),
        ),
        (
            "ops.dispatch_queue",
            """UPDATE ops.dispatch_queue SET payload = %s, last_error = NULL, updated_at = now(),
                      status = CASE WHEN status = 'sent' THEN 'sent' ELSE 'dlq' END
                WHERE tenant_id = %s AND event_id = ANY(%s)""",
            (Jsonb(ERASED), tenant, events),
        ),
        ("ops.dlq", "DELETE FROM ops.dlq WHERE tenant_id = %s AND event_id = ANY(%s)", (tenant, events)),
    ]
    with conn.transaction():
        conn.execute("SET LOCAL lock_timeout = '10s'")
        for table, query, params in steps:
            counts[table] = conn.execute(query, params).rowcount
    return counts


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, round(time.perf_counter() - started, 3)
