"""A budget's usage over its current window as SVG geometry (the CSP forbids inline styles, SVG
geometry is attributes) and as the numbers behind it.

Each bar is the usage accumulated up to the end of its step, on a scale that shows the limit
(and the warning threshold) as lines; steps that have not begun yet have no bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from corral.core.clock import as_utc
from corral.governance.budgets.series import UsageSeries
from corral.web.control import amount

HEIGHT = 50.0
WIDTH = 100.0
# The bars fill this share of their slot; the rest is the gap between them.
BAR_SHARE = 0.8
# Headroom above the larger of the limit and the usage, so the limit's line is never the edge.
HEADROOM = Decimal("1.1")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    over: bool
    label: str


@dataclass(frozen=True, slots=True)
class Row:
    step: str
    used: str
    hosted: str
    measured: str
    cumulative: str


@dataclass(frozen=True, slots=True)
class SpendChart:
    bars: tuple[Bar, ...]
    rows: tuple[Row, ...]
    limit_y: float
    threshold_y: float | None
    step_label: str
    total: str
    label: str


def _y(value: Decimal, scale: Decimal) -> float:
    return round(HEIGHT - float(value / scale) * HEIGHT, 3) if scale else HEIGHT


def _step_name(step: timedelta) -> str:
    if step >= timedelta(days=1):
        return "day"
    if step >= timedelta(hours=1):
        return "hour"
    return f"{int(step.total_seconds() // 60)} minutes"


def _when(moment: datetime, step: timedelta) -> str:
    moment = as_utc(moment)
    return moment.strftime("%Y-%m-%d" if step >= timedelta(days=1) else "%Y-%m-%d %H:%M")


def spend_chart(
    series: UsageSeries, threshold_percent: int | None, metric: str, now: datetime
) -> SpendChart:
    limit = series.usage.limit
    scale = max(limit, series.total) * HEADROOM
    slot = WIDTH / max(1, len(series.steps))
    bars: list[Bar] = []
    rows: list[Row] = []
    cumulative = Decimal(0)
    for index, step in enumerate(series.steps):
        if step.start > now:
            break
        cumulative += step.used
        name = _when(step.start, series.step)
        top = _y(cumulative, scale)
        bars.append(
            Bar(
                x=round(index * slot + slot * (1 - BAR_SHARE) / 2, 3),
                y=top,
                width=round(slot * BAR_SHARE, 3),
                height=round(HEIGHT - top, 3),
                over=cumulative >= limit,
                label=f"{name}: {amount(step.used, metric)}, {amount(cumulative, metric)} so far",
            )
        )
        rows.append(
            Row(
                name,
                amount(step.used, metric),
                amount(step.hosted, metric),
                amount(step.measured, metric),
                amount(cumulative, metric),
            )
        )
    threshold_y = (
        _y(limit * threshold_percent / 100, scale) if threshold_percent is not None else None
    )
    step_label = _step_name(series.step)
    label = (
        f"Usage by {step_label} this window: {amount(series.total, metric)} "
        f"of {amount(limit, metric)}"
    )
    return SpendChart(
        tuple(bars),
        tuple(rows),
        _y(limit, scale),
        threshold_y,
        step_label,
        amount(series.total, metric),
        label,
    )
