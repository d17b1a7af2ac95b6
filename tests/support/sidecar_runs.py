"""Building blocks for sidecar tests: a `SidecarRun` for a model reference, a recording sink."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from corral.agents.manifest import Manifest
from corral.core.ids import new_id
from corral.runs.sidecar.contracts import Assignment, EventKind, SidecarRun


def make_run(
    provider: str,
    model: str | None,
    *,
    application_id: str = "app_01m8t8sp9beqz97e8pmsh9gyf0",
    org_id: str = "org_01m8t8sp9beqz97e8pmsh9gyf0",
) -> SidecarRun:
    """A run of a minimal agent calling `model` of `provider`."""
    manifest = Manifest.model_validate(
        {"name": "probe", "version": "1.0.0", "model": {"provider": provider, "name": model}}
    )
    run_id = new_id("run")
    return SidecarRun(
        run_id=run_id,
        org_id=org_id,
        application_id=application_id,
        agent_id=None,
        agent_name="probe",
        end_user_id=None,
        trace_id="0" * 32,
        manifest=manifest,
        assignment=Assignment(
            run_id=run_id,
            model=model or "",
            prompt="p",
            skills=(),
            input={},
            output_schema=None,
            tools=(),
            timeout_seconds=60,
        ),
    )


@dataclass
class RecordingSink:
    """An `EventSink` that keeps every event, in order."""

    events: list[tuple[EventKind, dict[str, Any]]] = field(default_factory=list)

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None:
        self.events.append((kind, dict(data)))

    def of(self, kind: EventKind) -> list[dict[str, Any]]:
        return [data for event_kind, data in self.events if event_kind == kind]
