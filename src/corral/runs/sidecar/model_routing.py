"""One model gateway for any run: scripted runs to the scripted provider, the rest to providers.

A pooled sidecar is built before its run is known, so it cannot be given the right gateway up
front; this chooses per call, from the run. Halts are checked here, before either gateway, so a
halted scope gets no model call of any kind (409 `halted`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from corral.governance.halts.cache import HaltCache
from corral.governance.halts.matching import Subject
from corral.runs.sidecar.contracts import EventSink, ModelGateway, SidecarRun
from corral.runs.sidecar.model_errors import ModelGatewayError
from corral.runs.sidecar.scripted import SCRIPTED, ScriptedModelGateway


def run_subject(run: SidecarRun) -> Subject:
    return Subject(
        agent=run.agent_name,
        end_user=run.end_user_id,
        model=run.manifest.model.name,
        run_id=run.run_id,
    )


class RunModelGateway:
    def __init__(
        self,
        providers: ModelGateway,
        scripted: ModelGateway | None = None,
        *,
        halts: HaltCache | None = None,
    ) -> None:
        self._providers = providers
        self._scripted: ModelGateway = scripted or ScriptedModelGateway()
        self._halts = halts

    def _for(self, run: SidecarRun) -> ModelGateway:
        return self._scripted if run.manifest.model.provider == SCRIPTED else self._providers

    async def _refuse_if_halted(self, run: SidecarRun, sink: EventSink) -> None:
        if self._halts is None:
            return
        halt = await self._halts.covering(run.application_id, run_subject(run))
        if halt is not None:
            message = f"halted: {halt.describe}"
            # In the run's log: the model gateway never saw the call, so no model_call event.
            await sink.emit(
                "log", {"level": "warning", "message": f"model call refused, {message}"}
            )
            raise ModelGatewayError(409, message, kind="invalid_request_error", code="halted")

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        return await self._for(run).list_models(run)

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        await self._refuse_if_halted(run, sink)
        return await self._for(run).chat_completion(run, body, sink)

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        await self._refuse_if_halted(run, sink)
        chunks = self._for(run).stream_chat_completion(run, body, sink)
        async with aclosing(chunks):  # type: ignore[type-var]
            async for chunk in chunks:
                yield chunk
