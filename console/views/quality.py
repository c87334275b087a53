"""Match quality: estimated EMQ per day for 7 days beside Meta's own score (Dataset Quality API), the
share of sent events carrying each user_data key, the share by match stage (probabilistic share), and
the drift alarm between the two scores (trackai.console_data.meta_quality.drift, the Dagster check's rule)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from console import charts, queries, web
from trackai.console_data.meta_quality import IDENTIFIER_OF_KEY, drift

router = APIRouter()
DAYS = 7


@router.get("/quality")
def quality(request: Request) -> Response:
    _, tenant_id = web.require_tenant(request)
    s = web.state(request)
    i = web.translator(request)
    today = queries.utc_today()
    with s.database.tenant_tx(tenant_id) as conn:
        metrics = queries.daily_metrics(conn, tenant_id, DAYS, today)
        meta = queries.meta_emq(conn, tenant_id, today - timedelta(days=DAYS - 1))
    ours = metrics.emq_series()
    theirs = [
        float(meta[d]["composite_score"]) if d in meta and meta[d]["composite_score"] is not None else None
        for d in metrics.days
    ]
    comparison = drift(None, None, s.settings.meta_quality.drift_max_points)
    compared_day = None
    for day, o, m in reversed(list(zip(metrics.days, ours, theirs, strict=True))):
        if o is not None and m is not None:
            comparison, compared_day = drift(o, m, s.settings.meta_quality.drift_max_points), day
            break
    labels = [i.day_label(d) for d in metrics.days]
    chart = charts.line_chart(
        "chart-quality",
        i.t("quality.chart"),
        i.t("quality.chart.desc", min=i.number(s.settings.alarm.emq_min, 1)),
        labels,
        [
            charts.Series(i.t("series.ours"), ours, "s-ours"),
            charts.Series(i.t("series.meta"), theirs, "s-meta"),
        ],
        threshold=charts.Series(
            i.t("series.threshold"), [s.settings.alarm.emq_min] * len(labels), "s-threshold"
        ),
        fmt=lambda v: i.number(v, 1),
    )
    latest_meta = meta[max(meta)] if meta else None
    meta_coverage = {}
    if latest_meta:
        by_identifier = {
            f.get("identifier"): f.get("coverage_pct") for f in latest_meta["match_key_feedback"] or []
        }
        meta_coverage = {key: by_identifier.get(ident) for key, ident in IDENTIFIER_OF_KEY.items()}
    sent = metrics.total("sent")
    stage_counts = {stage: metrics.total(f"sent_{stage}") for stage in queries.STAGES}
    stage_counts["unmatched"] = max(sent - sum(stage_counts.values()), 0)
    return web.render(
        request,
        "quality.html",
        nav="quality",
        metrics=metrics,
        ours=ours,
        theirs=theirs,
        chart=chart,
        comparison=comparison,
        compared_day=compared_day,
        max_points=s.settings.meta_quality.drift_max_points,
        keys=queries.USER_DATA_KEYS,
        meta_coverage=meta_coverage,
        sent=sent,
        stage_counts=stage_counts,
        emq_min=s.settings.alarm.emq_min,
    )
