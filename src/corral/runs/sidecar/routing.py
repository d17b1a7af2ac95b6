"""The model gateway a sidecar uses: scripted turns for `scripted` agents, real providers else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from corral.runs.sidecar.contracts import EventSink, ModelGateway, SidecarRun

SCRIPTED = "scripted"


class RoutingModelGateway:
    def __init__(self, *, scripted: ModelGateway, providers: ModelGateway) -> None:
        self._scripted = scripted
        self._providers = providers

    def _for(self, run: SidecarRun) -> ModelGateway:
        return self._scripted if run.manifest.model.provider == SCRIPTED else self._providers

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        return await self._for(run).list_models(run)

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        return await self._for(run).chat_completion(run, body, sink)

    def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        return self._for(run).stream_chat_completion(run, body, sink)
