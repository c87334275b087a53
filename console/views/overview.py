"""Overview: purchases, matches by stage, match rate, sent / pending / failed, revenue sent, estimated EMQ
with its colour and the EMQ alarm, for today / 7 days / 30 days, with charts. The numbers refresh while
the page is open (GET /overview/live returns the same section)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import charts, queries, web

router = APIRouter()
WINDOWS = (1, 7, 30)


def overview_context(request: Request, tenant_id: str, window: int) -> dict:
    s = web.state(request)
    i = web.translator(request)
    alarm = s.settings.alarm
    today = queries.utc_today()
    with s.database.tenant_tx(tenant_id) as conn:
        metrics = queries.daily_metrics(conn, tenant_id, window, today)
        backlog = queries.open_dispatches(conn, tenant_id, metrics.days[0])
        alarm_n, alarm_emq = queries.emq_window(conn, tenant_id, alarm.emq_window_hours)
    if alarm_n < alarm.emq_min_events:
        alarm_state = (
            "insufficient",
            i.t("overview.alarm.insufficient", n=alarm_n, min_events=alarm.emq_min_events),
        )
    elif alarm_emq is not None and alarm_emq < alarm.emq_min:
        alarm_state = (
            "firing",
            i.t("overview.alarm.firing", value=i.number(alarm_emq, 1), min=i.number(alarm.emq_min, 1)),
        )
    else:
        alarm_state = ("ok", i.t("overview.alarm.ok", value=i.number(alarm_emq, 1)))
    labels = [i.day_label(d) for d in metrics.days]
    matched = metrics.series("matched")
    purchases = metrics.series("purchases")
    unmatched = [None if p is None else p - (m or 0) for p, m in zip(purchases, matched, strict=True)]
    chart_purchases = charts.bar_chart(
        "chart-purchases",
        i.t("overview.chart.purchases"),
        i.t("overview.chart.purchases.desc"),
        labels,
        [
            charts.Series(i.t("series.matched"), matched, "s-matched"),
            charts.Series(i.t("series.unmatched"), unmatched, "s-unmatched"),
        ],
        fmt=lambda v: i.number(v),
    )
    chart_sent = charts.bar_chart(
        "chart-sent",
        i.t("overview.chart.sent"),
        i.t("overview.chart.sent.desc"),
        labels,
        [charts.Series(i.t("series.sent"), metrics.series("sent"), "s-sent")],
        fmt=lambda v: i.number(v),
    )
    chart_emq = charts.line_chart(
        "chart-emq",
        i.t("overview.chart.emq"),
        i.t("overview.chart.emq.desc", min=i.number(alarm.emq_min, 1)),
        labels,
        [charts.Series(i.t("series.ours"), metrics.emq_series(), "s-ours")],
        threshold=charts.Series(i.t("series.threshold"), [alarm.emq_min] * len(labels), "s-threshold"),
        fmt=lambda v: i.number(v, 1),
    )
    return {
        "window": window,
        "windows": WINDOWS,
        "metrics": metrics,
        "backlog": backlog,
        "emq": metrics.emq(),
        "emq_min": alarm.emq_min,
        "alarm_state": alarm_state,
        "alarm_hours": alarm.emq_window_hours,
        "stages": queries.STAGES,
        "charts": (chart_purchases, chart_sent, chart_emq),
        "updated_at": datetime.now(UTC),
        "live_url": f"/overview/live?window={window}",
        "today": queries.utc_today(),
        "yesterday": queries.utc_today() - timedelta(days=1),
    }


def _window(value: int) -> int:
    return value if value in WINDOWS else 7


@router.get("/")
def overview(request: Request, window: int = 7) -> Response:
    _, tenant_id = web.require_tenant(request)
    return web.render(
        request, "overview.html", nav="overview", **overview_context(request, tenant_id, _window(window))
    )


@router.get("/overview/live")
def overview_live(request: Request, window: int = 7) -> Response:
    _, tenant_id = web.require_tenant(request)
    return web.render(request, "_overview_live.html", **overview_context(request, tenant_id, _window(window)))
