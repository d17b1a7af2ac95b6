"""A trace as a waterfall: each span a bar placed by its start and duration within the trace,
listed depth-first under its parent so the nesting reads top to bottom.

Positions are percentages of the trace's duration, rounded to 0.01 %. The page draws each bar as
an SVG `<rect x=… width=…>`: presentation attributes, not inline styles, which the
Content-Security-Policy forbids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.traces.models import Span

MAX_DEPTH_SHOWN = 12


@dataclass(frozen=True, slots=True)
class Bar:
    span: Span
    depth: int
    offset_percent: float
    width_percent: float
    offset_ms: float

    @property
    def indent(self) -> int:
        return min(self.depth, MAX_DEPTH_SHOWN)

    @property
    def attributes(self) -> dict[str, Any]:
        return self.span.attributes


def _micros(later: datetime, earlier: datetime) -> int:
    delta = later - earlier
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def layout(spans: Sequence[Span]) -> list[Bar]:
    """Bars in display order: roots by start time, each followed by its children (recursively).

    A span whose parent is not in the trace (not received, or dropped by sampling) is shown as a
    root; a parent cycle (malformed input) cannot loop, every span is placed once.
    """
    if not spans:
        return []
    start = min(span.start_time for span in spans)
    end = max(span.end_time for span in spans)
    total = max(_micros(end, start), 1)
    known = {span.span_id for span in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in known else None
        if parent == span.span_id:
            parent = None
        children.setdefault(parent, []).append(span)
    for siblings in children.values():
        siblings.sort(key=lambda s: (s.start_time, s.id))

    bars: list[Bar] = []
    placed: set[str] = set()
    stack: list[tuple[Span, int]] = [(root, 0) for root in reversed(children.get(None, []))]

    def place(span: Span, depth: int) -> None:
        offset = _micros(span.start_time, start)
        width = max(_micros(span.end_time, span.start_time), 0)
        offset_percent = min(99.5, round(offset * 100 / total, 2))
        # At least 0.5 % so a short span is still a visible bar.
        width_percent = max(0.5, min(100 - offset_percent, round(width * 100 / total, 2)))
        bars.append(Bar(span, depth, offset_percent, width_percent, offset / 1000))

    while stack:
        span, depth = stack.pop()
        if span.id in placed:
            continue
        placed.add(span.id)
        place(span, depth)
        stack.extend((child, depth + 1) for child in reversed(children.get(span.span_id, [])))
    # Spans only reachable through a cycle: shown at the end, as roots.
    for span in sorted(spans, key=lambda s: (s.start_time, s.id)):
        if span.id not in placed:
            placed.add(span.id)
            place(span, 0)
    return bars
