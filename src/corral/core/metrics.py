"""Prometheus metrics, registered on a registry per application instance (not the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _PoolCollector(Collector):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self._engine.sync_engine.pool
        checked_out = GaugeMetricFamily(
            "corral_db_pool_connections_in_use", "Database connections checked out of the pool."
        )
        size = GaugeMetricFamily("corral_db_pool_size", "Configured database pool size.")
        for attr, family in (("checkedout", checked_out), ("size", size)):
            reader: Callable[[], int] | None = getattr(pool, attr, None)
            family.add_metric([], float(reader()) if callable(reader) else 0.0)
            yield family


class _CallbackCollector(Collector):
    """A collector whose samples come from a callback evaluated at scrape time."""

    def __init__(self, callback: Callable[[], Iterable[Metric]]) -> None:
        self._callback = callback

    def collect(self) -> Iterable[Metric]:
        return self._callback()


@dataclass
class Metrics:
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        self.requests = Counter(
            "corral_http_requests_total",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "corral_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rate_limiter_errors = Counter(
            "corral_rate_limiter_errors_total",
            "Requests let through unlimited because the rate limiter's store failed.",
            registry=self.registry,
        )
        self.policy_decisions = Counter(
            "corral_policy_decisions_total",
            "Policy decisions by action and source: every decision of POST /api/decisions "
            "(source api), and the evidence recorded from ingested spans (sdk, sidecar).",
            ["action", "source"],
            registry=self.registry,
        )
        self.policy_evaluation_errors = Counter(
            "corral_policy_evaluation_errors_total",
            "Policies that could not be evaluated in a server-side decision (each one fails "
            "closed when its action enforces, and is skipped otherwise).",
            ["source"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "corral_rate_limit_rejections_total",
            "Requests refused by the rate limiter.",
            registry=self.registry,
        )

    def watch_pool(self, engine: AsyncEngine) -> None:
        self.registry.register(_PoolCollector(engine))

    def add_callback(self, callback: Callable[[], Iterable[Metric]]) -> None:
        self.registry.register(_CallbackCollector(callback))
