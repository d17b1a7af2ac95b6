"""Results of background health probes, read by /health without touching any dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from corral.core.clock import utcnow


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    checked_at: datetime
    reason: str | None = None


@dataclass
class HealthProbes:
    results: dict[str, ProbeResult] = field(default_factory=dict)

    def record(self, name: str, *, ok: bool, latency_ms: float, reason: str | None = None) -> None:
        self.results[name] = ProbeResult(ok, round(latency_ms, 2), utcnow(), reason)
