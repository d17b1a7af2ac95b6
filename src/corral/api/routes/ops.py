"""Probes and metrics: /health (liveness), /ready (readiness), /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from corral import __version__
from corral.api.deps import ContainerDep
from corral.container import Container
from corral.core.migrations import current_revisions, head_revisions

router = APIRouter(tags=["operations"])

READY_CHECK_TIMEOUT_SECONDS = 0.5


class HealthRead(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    uptime_ms: int
    version: str
    checks: dict[str, dict[str, Any]]


class CheckRead(BaseModel):
    status: Literal["ok", "fail"]
    latency_ms: float
    reason: str | None = None


class ReadyRead(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, CheckRead]


@router.get(
    "/health",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "Unhealthy."}},
)
async def health(container: ContainerDep, response: Response) -> HealthRead:
    """Liveness. Reports the last background probe results; never touches the database."""
    checks: dict[str, dict[str, Any]] = {}
    for name, result in container.probes.results.items():
        checks[name] = {
            "status": "ok" if result.ok else "fail",
            "latency_ms": result.latency_ms,
            "checked_at": result.checked_at.isoformat(),
            **({"reason": result.reason} if result.reason else {}),
        }
    for loop in container.loops.status():
        if loop.enabled:
            checks[f"loop:{loop.name}"] = {
                "status": "ok" if loop.healthy else "fail",
                **({"reason": loop.reason} if loop.reason else {}),
            }
    failing = [name for name, check in checks.items() if check["status"] != "ok"]
    state: Literal["healthy", "degraded", "unhealthy"] = "healthy"
    if failing:
        state = "unhealthy" if "database" in failing else "degraded"
    response.status_code = 503 if state == "unhealthy" else 200
    return HealthRead(
        status=state,
        uptime_ms=int((time.monotonic() - container.started_monotonic) * 1000),
        version=__version__,
        checks=checks,
    )


async def _timed(container: Container, check: Callable[[], Awaitable[str | None]]) -> CheckRead:
    started = time.perf_counter()
    try:
        reason = await container.ready_checks.run(check, READY_CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        reason = f"no answer within {int(READY_CHECK_TIMEOUT_SECONDS * 1000)} ms"
    except Exception as exc:  # noqa: BLE001 — any failure of a dependency means not ready
        reason = f"{type(exc).__name__}: {exc}"[:300]
    latency = round((time.perf_counter() - started) * 1000, 2)
    return CheckRead(status="fail" if reason else "ok", latency_ms=latency, reason=reason)


def _checks(container: Container) -> dict[str, Callable[[], Awaitable[str | None]]]:
    async def database() -> str | None:
        async with container.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return None

    async def migrations() -> str | None:
        current, heads = await current_revisions(container.engine), head_revisions()
        return (
            None
            if current == heads
            else f"at {sorted(current) or 'nothing'}, head is {sorted(heads)}"
        )

    checks: dict[str, Callable[[], Awaitable[str | None]]] = {
        "database": database,
        "migrations": migrations,
    }
    if container.redis is not None:
        redis = container.redis

        async def redis_ping() -> str | None:
            await redis.ping()
            return None

        checks["redis"] = redis_ping
    for loop in container.loops.status():
        if loop.enabled:
            checks[f"loop:{loop.name}"] = _loop_check(container, loop.name)
    return checks


def _loop_check(container: Container, name: str) -> Callable[[], Awaitable[str | None]]:
    async def check() -> str | None:
        status = next(s for s in container.loops.status() if s.name == name)
        return None if status.healthy else status.reason or "unhealthy"

    return check


@router.get(
    "/ready",
    response_model=ReadyRead,
    responses={503: {"model": ReadyRead, "description": "Not ready."}},
)
async def ready(container: ContainerDep, response: Response) -> ReadyRead:
    """Readiness: live checks of every dependency, each bounded in time."""
    checks = _checks(container)
    results = await asyncio.gather(*(_timed(container, check) for check in checks.values()))
    by_name = dict(zip(checks, results, strict=True))
    ok = all(r.status == "ok" for r in results)
    response.status_code = 200 if ok else 503
    return ReadyRead(status="ready" if ok else "not_ready", checks=by_name)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(container: ContainerDep) -> Response:
    """Prometheus metrics in the text exposition format."""
    return Response(generate_latest(container.metrics.registry), media_type=CONTENT_TYPE_LATEST)
