"""Head sampling at ingest: deterministic per trace, and never at the cost of evidence."""

from __future__ import annotations

import math

_LOW_BITS = 16  # hex digits: the trace id's lower 64 bits
_SPACE = 1 << 64


def keep(
    trace_id: str,
    rate: float,
    *,
    has_error: bool,
    has_decision: bool,
    total_tokens: int | None,
    token_threshold: int | None,
) -> bool:
    """Whether to store a span.

    Error spans, spans carrying an enforcement decision, and spans whose token count is above
    `token_threshold` are always kept. Everything else is kept for a `rate` fraction of traces,
    chosen from the trace id's lower 64 bits (the W3C random part, as OpenTelemetry's
    `TraceIdRatioBased` sampler does): every replica decides the same for the same trace, and
    all spans of a kept trace are kept together.
    """
    if has_error or has_decision:
        return True
    if token_threshold is not None and total_tokens is not None and total_tokens > token_threshold:
        return True
    return trace_kept(trace_id, rate)


def trace_kept(trace_id: str, rate: float) -> bool:
    """The rate-based part of `keep`: is this trace in the sampled fraction?"""
    if math.isnan(rate):
        raise ValueError("sampling rate must be a number in [0, 1]")
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    if len(trace_id) != 32:
        raise ValueError(f"trace id must be 32 hex digits, got {trace_id!r}")
    return int(trace_id[-_LOW_BITS:], 16) < int(rate * _SPACE)
