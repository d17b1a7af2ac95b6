"""Edges of the sidecar for its tests: an in-memory event sink, a tool gateway, a run, a client.

The real tool gateway and the executor's sink belong to other units; these stand in for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from corral.agents.manifest import Manifest
from corral.runs.sidecar.contracts import (
    AssignedTool,
    Assignment,
    EventKind,
    SidecarRun,
    ToolOutcome,
)


@dataclass
class RecordingSink:
    """Keeps every event; `wait_for` awaits the first event of a kind."""

    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None:
        async with self._arrived:
            self.events.append((kind, dict(data)))
            self._arrived.notify_all()

    def of(self, kind: EventKind) -> list[dict[str, Any]]:
        return [data for event_kind, data in self.events if event_kind == kind]

    async def wait_for(self, *kinds: EventKind) -> tuple[EventKind, dict[str, Any]]:
        async with self._arrived:
            await self._arrived.wait_for(lambda: any(k in kinds for k, _ in self.events))
        return next((k, d) for k, d in self.events if k in kinds)


@dataclass
class ScriptedToolGateway:
    """Answers each tool by name from a table; records the calls it got."""

    outcomes: dict[str, ToolOutcome] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def call(
        self,
        run: SidecarRun,  # noqa: ARG002
        tool: str,
        arguments: dict[str, Any],
        sink: Any,  # noqa: ARG002
    ) -> ToolOutcome:
        self.calls.append((tool, arguments))
        return self.outcomes.get(tool, ToolOutcome(status="ok", result={"echo": arguments}))


class FailingToolGateway:
    async def call(self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: Any) -> Any:
        del run, tool, arguments, sink
        raise RuntimeError("secret-token-123 leaked into an exception")


def scripted_run(
    turns: list[dict[str, Any]],
    *,
    tools: list[dict[str, Any]] | None = None,
    output_schema: dict[str, Any] | None = None,
    skills: tuple[str, ...] = (),
    structured: bool = True,
    run_id: str = "run_test",
) -> SidecarRun:
    """A run of a scripted agent; `structured=False` asks for plain text output."""
    manifest_data: dict[str, Any] = {
        "name": "tester",
        "version": "1.0.0",
        "model": {"provider": "scripted", "turns": turns},
        "tools": tools or [],
    }
    if output_schema is not None:
        manifest_data["output_schema"] = output_schema
    manifest = Manifest.model_validate(manifest_data)
    assignment = Assignment(
        run_id=run_id,
        model="scripted",
        prompt="You test things.",
        skills=skills,
        input={"question": "what is 2+2?"},
        output_schema=manifest.output_schema if structured else None,
        tools=tuple(
            AssignedTool(
                name=tool.name,
                description=tool.description,
                parameters=tool.parameters or {"type": "object", "properties": {}},
            )
            for tool in manifest.tools
        ),
        timeout_seconds=manifest.timeout_seconds,
    )
    return SidecarRun(
        run_id=run_id,
        org_id="org_test",
        application_id="app_test",
        agent_id=None,
        agent_name=manifest.name,
        end_user_id=None,
        trace_id="0" * 32,
        manifest=manifest,
        assignment=assignment,
    )


def uds_client(socket_path: str) -> httpx2.AsyncClient:
    transport = httpx2.AsyncHTTPTransport(uds=socket_path)
    return httpx2.AsyncClient(transport=transport, base_url="http://sidecar")
