"""`create_app()`: the HTTP application, composed from the container."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.middleware.cors import CORSMiddleware

from corral import __version__
from corral.api import docs, errors
from corral.api.middleware import (
    BodyLimitMiddleware,
    IdempotencyMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
)
from corral.api.routes import (
    agents,
    api_keys,
    approvals,
    apps,
    audit,
    auth,
    budgets,
    connections,
    decisions,
    end_users,
    halts,
    ingest_settings,
    mfa,
    ops,
    orgs,
    otlp,
    policies,
    policy_analysis,
    policy_exchange,
    policy_versions,
    prices,
    providers,
    runs,
    schedules,
    traces,
    webhooks,
)
from corral.container import Container, build_container
from corral.core import secrets as server_secrets
from corral.core.db import transaction
from corral.core.migrations import upgrade_to_head
from corral.core.settings import Settings, get_settings
from corral.identity.services.bootstrap import DevSeed, seed_dev
from corral.run_stack import RunStack, build_run_stack
from corral.web import mount as dashboard

_log = structlog.get_logger(__name__)


def _loop_metrics(container: Container) -> Iterable[GaugeMetricFamily]:
    heartbeat = GaugeMetricFamily(
        "corral_loop_last_heartbeat_timestamp_seconds",
        "Last wake-up of each background loop.",
        labels=["loop"],
    )
    healthy = GaugeMetricFamily(
        "corral_loop_healthy", "1 when the loop is healthy.", labels=["loop"]
    )
    leader = GaugeMetricFamily(
        "corral_loop_is_leader", "1 when this replica leads the loop.", labels=["loop"]
    )
    for status in container.loops.status():
        if status.last_heartbeat_at is not None:
            heartbeat.add_metric([status.name], status.last_heartbeat_at.timestamp())
        healthy.add_metric([status.name], 1.0 if status.healthy else 0.0)
        leader.add_metric([status.name], 1.0 if status.is_leader else 0.0)
    return [heartbeat, healthy, leader]


def _ingest_metrics(container: Container) -> Iterable[Metric]:
    queue = container.ingest
    stats = container.ingest_stats
    depth = GaugeMetricFamily("corral_ingest_queue_depth", "Spans waiting to be written.")
    depth.add_metric([], float(queue.depth))
    spans = CounterMetricFamily(
        "corral_ingest_spans",
        "Spans by outcome: accepted (queued), rejected (invalid), dropped (queue full or "
        "write failed) or sampled_out (not kept by sampling).",
        labels=["outcome"],
    )
    spans.add_metric(["accepted"], float(queue.accepted))
    spans.add_metric(["rejected"], float(queue.rejected))
    spans.add_metric(["dropped"], float(queue.dropped))
    spans.add_metric(["sampled_out"], float(stats.sampled_out))
    unknown = CounterMetricFamily(
        "corral_ingest_unknown_model",
        "Model-call spans with token usage but no price (unknown model), by provider "
        "(`other` for a provider name Corral does not know, `none` when absent).",
        labels=["provider"],
    )
    for provider, count in sorted(stats.unknown_models.items()):
        unknown.add_metric([provider], float(count))
    redactions = CounterMetricFamily(
        "corral_ingest_redactions",
        "Values redacted at ingest, by detector (`key_action` for per-key actions, "
        "`truncated` for values cut to the scan limit).",
        labels=["detector"],
    )
    for detector, count in sorted(stats.redactions.items()):
        redactions.add_metric([detector], float(count))
    return [depth, spans, unknown, redactions]


def render_banner(seed: DevSeed, settings: Settings) -> str:
    line = "=" * 68
    password = (
        f"  Owner:     {seed.owner_email} / {seed.owner_password}  (shown once)\n"
        if seed.owner_password
        else f"  Owner:     {seed.owner_email} (password shown at first boot; "
        "reset with `corral admin reset-password`)\n"
    )
    return (
        f"\n{line}\n  Corral {__version__} is ready (development mode)\n{line}\n"
        f"  URL:       {settings.public_url}\n"
        f"  API key:   {seed.api_key}\n"
        f"{password}"
        f"  Try:       curl -H 'Authorization: Bearer {seed.api_key}' "
        f"{settings.public_url}/api/me\n"
        "  This key is publicly known. Create a real key (POST /api/api-keys), then\n"
        "  revoke this one, and never set CORRAL_SEED_DEV in production.\n"
        f"{line}\n"
    )


async def _seed(container: Container) -> DevSeed:
    settings = container.settings
    async with transaction(container.sessions) as session:
        return await seed_dev(
            session,
            container.accounts,
            owner_email=settings.auth.dev_owner_email,
            api_key=settings.auth.dev_api_key.get_secret_value(),
        )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Refuses unsafe production settings before anything else."""
    settings = settings or get_settings()
    problems = server_secrets.check_boot(settings)
    if problems:
        _log.warning(
            "config.unsafe_for_production",
            note="fine for development; CORRAL_ENV=production refuses to boot with these",
            problems=problems,
        )
    container = build_container(settings)

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        try:
            if settings.auto_migrate:
                await upgrade_to_head(container.engine)
            if settings.auth.seed_dev:
                seed = await _seed(container)
                sys.stderr.write(render_banner(seed, settings))
            container.ingest.start()
            await container.loops.start()
            if settings.runs.worker_in_server:
                stack = build_run_stack(container)
                application.state.run_stack = stack
                await stack.start()
            yield
        finally:
            running: RunStack | None = getattr(application.state, "run_stack", None)
            if running is not None:
                await running.stop()
            await container.aclose()

    app = FastAPI(
        title="Corral",
        version=__version__,
        summary="Control plane for AI agents: runs, policies, budgets, approvals, audit.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.container = container
    errors.install(app)
    docs.install(app)
    # The fixed /api/policies/… paths before `policies`: `bundle` or `templates` is no policy id.
    for module in (
        ops,
        auth,
        mfa,
        orgs,
        apps,
        api_keys,
        end_users,
        otlp,
        traces,
        ingest_settings,
        prices,
        policy_exchange,
        policy_analysis,
        policies,
        policy_versions,
        decisions,
        approvals,
        agents,
        connections,
        runs,
        providers,
        schedules,
        halts,
        budgets,
        webhooks,
        audit,
    ):
        app.include_router(module.router)
    # The dashboard: pages at `/` on the same app and cookie sessions.
    dashboard.install(app)
    container.metrics.add_callback(lambda: _loop_metrics(container))
    container.metrics.add_callback(lambda: _ingest_metrics(container))

    # Added innermost first: the request-context middleware ends up outermost.
    app.add_middleware(IdempotencyMiddleware, store_for=lambda: container.idempotency)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    if container.rate_limiter is not None:
        app.add_middleware(
            RateLimitMiddleware, limiter=container.rate_limiter, metrics=container.metrics
        )
    if settings.trusted_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.trusted_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-CSRF-Token",
                "Corral-Application",
                "Corral-Organization",
                "Corral-End-User",
                "X-Request-Id",
            ],
            expose_headers=[
                "X-Request-Id",
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "Retry-After",
            ],
        )
    app.add_middleware(
        RequestContextMiddleware, metrics=container.metrics, trusted_hops=settings.trust_proxy
    )
    return app
