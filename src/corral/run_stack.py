"""Composition of hosted-run execution: sandbox adapter, sidecars and their gateways, the warm
pool, the executor and the worker. Built from the container by `corral serve` (embedded worker)
and `corral worker`; part of the composition root, like `container.py`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx2
import structlog

from corral.container import Container
from corral.core.egress.client import EgressClient
from corral.runs.executor import Finished, RunExecutor
from corral.runs.launch import runtime_spec
from corral.runs.sandboxes.base import ResourceLimits, SandboxAdapter, SandboxSpec
from corral.runs.sandboxes.selection import select_adapter
from corral.runs.sidecar.contracts import ModelGateway, ToolGateway
from corral.runs.sidecar.model_budgets import BudgetGate
from corral.runs.sidecar.model_gateway import ProviderModelGateway
from corral.runs.sidecar.model_routing import RunModelGateway
from corral.runs.sidecar.server import Sidecar
from corral.runs.sidecar.tool_approvals import ServerApprovalGate
from corral.runs.sidecar.tool_gateway import HttpToolGateway
from corral.runs.spans import run_spans
from corral.runs.warm_pool import SidecarHandle, WarmPool
from corral.runs.worker import RunWorker, worker_identity
from corral.traces.ingest import build_rows

_log = structlog.get_logger(__name__)

# Model providers can be slow to answer the first token; the read timeout is per chunk.
PROVIDER_TIMEOUT = httpx2.Timeout(300.0, connect=10.0)


@dataclass
class RunStack:
    adapter: SandboxAdapter
    pool: WarmPool
    executor: RunExecutor
    worker: RunWorker
    model_gateway: ModelGateway
    tool_gateway: ToolGateway
    provider_http: httpx2.AsyncClient
    egress: EgressClient

    async def start(self) -> None:
        why_not = self.adapter.available()
        if why_not is not None:
            _log.error("runs.sandbox_unavailable", adapter=self.adapter.name, reason=why_not)
        elif not self.adapter.isolated:
            _log.warning(
                "runs.no_isolation",
                adapter=self.adapter.name,
                detail="hosted runs are not isolated: development only",
            )
        await self.pool.start()
        self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.pool.stop()
        await self.provider_http.aclose()
        await self.egress.aclose()


def default_limits(container: Container) -> ResourceLimits:
    """The limits of a run that asks for none: what warm slots are made with."""
    platform = container.settings.runs.platform_run_limits
    return ResourceLimits(
        memory_bytes=max(platform.default_memory_mb, 256) * 1024 * 1024,
        cpu_seconds=platform.cpu_seconds_ceiling,
        max_processes=platform.default_max_processes,
    )


def build_run_stack(
    container: Container,
    *,
    adapter: SandboxAdapter | None = None,
    worker_id: str | None = None,
    base_dir: Path | None = None,
) -> RunStack:
    settings = container.settings
    provider_http = httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT, trust_env=False)
    model_gateway = RunModelGateway(
        ProviderModelGateway(
            settings.system_provider_keys,
            container.sessions,
            container.keyring,
            container.price_catalog,
            provider_http,
            price_overrides=container.ingest_config,
            budgets=BudgetGate(container.sessions, container.price_catalog),
        ),
        halts=container.halt_cache,
    )
    egress = EgressClient.for_tools(settings.tools)
    tool_gateway = HttpToolGateway(
        sessions=container.sessions,
        keyring=container.keyring,
        decider=container.decider,
        egress=egress,
        approvals=ServerApprovalGate(
            sessions=container.sessions,
            signals=container.approval_signals,
            redactor=container.redactor,
        ),
    )
    chosen = adapter or select_adapter(
        settings.sandbox.run_adapter, docker_image=settings.sandbox.docker_image
    )

    def sidecar(socket_dir: Path) -> SidecarHandle:
        return Sidecar(socket_dir, model_gateway, tool_gateway)

    def launch(
        slot_id: str, work_dir: Path, socket_dir: Path, limits: ResourceLimits
    ) -> SandboxSpec:
        return runtime_spec(slot_id, work_dir=work_dir, socket_dir=socket_dir, limits=limits)

    pool = WarmPool(
        chosen,
        sidecar,
        launch,
        size=settings.runs.sidecar_pool_size,
        default_limits=default_limits(container),
        base_dir=base_dir,
    )
    identity = worker_id or worker_identity()

    async def record_spans(finished: Finished) -> None:
        records = run_spans(finished)
        run = finished.sidecar_run
        if not records or run is None:
            return
        async with container.sessions() as session:
            config = await container.ingest_config.get(session, run.application_id)
        built = await asyncio.to_thread(
            build_rows,
            records,
            org_id=run.org_id,
            application_id=run.application_id,
            config=config,
            catalog=container.price_catalog,
        )
        container.ingest.offer(built.rows)

    executor = RunExecutor(
        sessions=container.sessions,
        adapter=chosen,
        pool=pool,
        signals=container.run_signals,
        worker_id=identity,
        on_finished=record_spans,
    )
    worker = RunWorker(
        sessions=container.sessions,
        executor=executor,
        signals=container.run_signals,
        worker_id=identity,
        concurrency=settings.runs.worker_concurrency,
        lease_seconds=settings.runs.run_lease_seconds,
    )
    return RunStack(
        adapter=chosen,
        pool=pool,
        executor=executor,
        worker=worker,
        model_gateway=model_gateway,
        tool_gateway=tool_gateway,
        provider_http=provider_http,
        egress=egress,
    )
