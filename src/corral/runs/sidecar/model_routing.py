"""One model gateway for any run: scripted runs to the scripted provider, the rest to providers.

A pooled sidecar is built before its run is known, so it cannot be given the right gateway up
front; this chooses per call, from the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from corral.runs.sidecar.contracts import EventSink, ModelGateway, SidecarRun
from corral.runs.sidecar.scripted import SCRIPTED, ScriptedModelGateway


class RunModelGateway:
    def __init__(self, providers: ModelGateway, scripted: ModelGateway | None = None) -> None:
        self._providers = providers
        self._scripted: ModelGateway = scripted or ScriptedModelGateway()

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
