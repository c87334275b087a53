"""Charts as inline SVG, rendered on the server: no JavaScript library, readable without scripts, and
accessible (role="img" with a title and description; every page also shows the numbers in a table).

Colours come from CSS classes (console/static/console.css), never inline styles (the CSP forbids them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    css: str  # class of the bars / line, e.g. "s-matched"


def nice_step(value: float, *, integer: bool = False) -> float:
    """The smallest 1/2/2.5/5 x 10^n at or above value (one grid step); at least 1 for counts."""
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * exponent
        if step >= value and (not integer or step == int(step)):
            return float(max(step, 1.0) if integer else step)
    return float(10 * exponent)


def axis_top(largest: float, *, integer: bool = False) -> float:
    """Four grid steps reaching at least ``largest``."""
    return 4 * nice_step(largest / 4, integer=integer)


def _frame(chart_id: str, title: str, desc: str, body: list[str], legend: Sequence[Series]) -> Markup:
    items = "".join(
        f'<li><span class="swatch {escape(s.css)}" aria-hidden="true"></span>{escape(s.label)}</li>'
        for s in legend
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )
    # Every text that went into the markup above was escaped; the rest are numbers and fixed tags.
    return Markup(  # noqa: S704
        f'<figure class="chart-box"><figcaption>{escape(title)}</figcaption>{svg}<ul class="legend">{items}</ul></figure>'
    )


def _axes(labels: Sequence[str], top: float, fmt: Callable[[float], str]) -> tuple[list[str], float, float]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = []
    for i in range(5):
        value = top * i / 4
        y = TOP + plot_h - plot_h * i / 4
        body.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        body.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    step = max(1, math.ceil(len(labels) / 10))
    slot = plot_w / max(len(labels), 1)
    for i, label in enumerate(labels):
        if i % step == 0 or i == len(labels) - 1:
            x = LEFT + slot * (i + 0.5)
            body.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(label)}</text>'
            )
    return body, plot_w, plot_h


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    stacked: Sequence[Series],
    fmt: Callable[[float], str] = lambda v: f"{v:.0f}",
) -> Markup:
    """Stacked bars, one per label; each segment has a tooltip with its value."""
    totals = [sum((s.values[i] or 0) for s in stacked) for i in range(len(labels))]
    top = axis_top(max(totals, default=0), integer=True)
    body, plot_w, plot_h = _axes(labels, top, fmt)
    slot = plot_w / max(len(labels), 1)
    bar_w = max(2.0, slot * 0.7)
    for i, label in enumerate(labels):
        base = 0.0
        for s in stacked:
            value = s.values[i] or 0
            if value <= 0:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * (base + value) / top
            x = LEFT + slot * i + (slot - bar_w) / 2
            body.append(
                f'<rect class="bar {escape(s.css)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                f"<title>{escape(label)} · {escape(s.label)}: {escape(fmt(value))}</title></rect>"
            )
            base += value
    return _frame(chart_id, title, desc, body, stacked)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    top: float = 10.0,
    threshold: Series | None = None,
    fmt: Callable[[float], str] = lambda v: f"{v:.1f}",
) -> Markup:
    """Lines over a fixed 0..top axis (EMQ is 0-10); gaps where a value is missing; an optional dashed threshold."""
    body, plot_w, plot_h = _axes(labels, top, fmt)
    slot = plot_w / max(len(labels), 1)

    def point(i: int, v: float) -> tuple[float, float]:
        return LEFT + slot * (i + 0.5), TOP + plot_h - plot_h * min(v, top) / top

    if threshold is not None and threshold.values:
        _, y = point(0, threshold.values[0] or 0)
        body.append(
            f'<line class="threshold {escape(threshold.css)}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    for s in series:
        run: list[str] = []
        runs: list[list[str]] = [run]
        for i, v in enumerate(s.values):
            if v is None:
                run = []
                runs.append(run)
                continue
            x, y = point(i, float(v))
            run.append(f"{x:.1f},{y:.1f}")
            body.append(
                f'<circle class="dot {escape(s.css)}" cx="{x:.1f}" cy="{y:.1f}" r="3.5">'
                f"<title>{escape(labels[i])} · {escape(s.label)}: {escape(fmt(float(v)))}</title></circle>"
            )
        for r in runs:
            if len(r) > 1:
                body.append(f'<polyline class="line {escape(s.css)}" points="{" ".join(r)}"/>')
    legend = [*series, *([threshold] if threshold is not None else [])]
    return _frame(chart_id, title, desc, body, legend)
