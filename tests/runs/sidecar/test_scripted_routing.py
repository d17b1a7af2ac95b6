"""A pooled sidecar's model gateway sends scripted runs to the scripted provider."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from corral.runs.sidecar.contracts import EventSink, SidecarRun
from corral.runs.sidecar.model_routing import RunModelGateway
from tests.runs.sidecar.run_fixtures import RecordingSink, scripted_run


class ProviderGateway:
    """Stands in for the provider gateway: answers with the model it was asked for."""

    async def list_models(self, run: SidecarRun) -> list[dict[str, Any]]:
        return [{"id": run.manifest.model.name}]

    async def chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> dict[str, Any]:
        del sink
        return {"model": body["model"], "provider": run.manifest.model.provider}

    async def stream_chat_completion(
        self, run: SidecarRun, body: dict[str, Any], sink: EventSink
    ) -> AsyncIterator[bytes]:
        del run, body, sink
        yield b"data: [DONE]\n\n"


def _provider_run() -> SidecarRun:
    run = scripted_run([{"text": "x"}])
    model = run.manifest.model.model_copy(
        update={"provider": "openai", "name": "gpt-test", "turns": None}
    )
    return dataclasses.replace(run, manifest=run.manifest.model_copy(update={"model": model}))


async def test_each_run_reaches_the_gateway_of_its_provider() -> None:
    gateway = RunModelGateway(ProviderGateway())
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    sink = RecordingSink()

    scripted = await gateway.chat_completion(scripted_run([{"text": "x"}]), body, sink)
    provided = await gateway.chat_completion(_provider_run(), body, sink)
    streamed = [
        chunk async for chunk in gateway.stream_chat_completion(_provider_run(), body, sink)
    ]

    assert scripted["system_fingerprint"] == "corral-scripted"
    assert provided == {"model": "gpt-test", "provider": "openai"}
    assert streamed == [b"data: [DONE]\n\n"]
    assert await gateway.list_models(_provider_run()) == [{"id": "gpt-test"}]
    assert (await gateway.list_models(scripted_run([{"text": "x"}])))[0]["id"] == "scripted"
