"""Per-application ingest settings: redaction, sampling and retention (`settings:*` scopes)."""

from __future__ import annotations

from fastapi import APIRouter

from corral.api.deps import AppScopeDep, ContainerDep, SessionDep
from corral.api.openapi import ERRORS
from corral.telemetry.redact import ALL_DETECTORS, DEFAULT_PII_ENTITIES
from corral.traces import ingest_settings
from corral.traces.ingest_settings import IngestSettingsView
from corral.traces.settings_schemas import (
    DetectorRead,
    IngestSettingsRead,
    IngestSettingsUpdate,
    RedactionConfig,
)

router = APIRouter(tags=["settings"], responses=ERRORS)


def _read(view: IngestSettingsView) -> IngestSettingsRead:
    redaction = view.redaction
    return IngestSettingsRead(
        application_id=view.application_id,
        redaction=RedactionConfig(
            enabled=redaction.enabled,
            credentials=redaction.credentials,
            pii_entities=sorted(redaction.pii_entities),
            allowlist=sorted(redaction.allowlist),
            key_actions=dict(redaction.key_actions),
            actions=dict(redaction.actions),
            default_action=redaction.default_action,
            disabled_detectors=sorted(redaction.disabled_detectors),
        ),
        sampling_rate=view.sampling_rate,
        effective_sampling_rate=view.effective_sampling_rate,
        sampling_token_threshold=view.sampling_token_threshold,
        retention_days=view.retention_days,
        effective_retention_days=view.effective_retention_days,
        revision=view.revision,
        updated_at=view.updated_at,
    )


@router.get("/api/settings/ingest", response_model=IngestSettingsRead)
async def get_ingest_settings(
    scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> IngestSettingsRead:
    """The application's ingest settings, with the values ingest applies."""
    return _read(await ingest_settings.get(session, scope, container.ingest_config.defaults))


@router.patch("/api/settings/ingest", response_model=IngestSettingsRead)
async def update_ingest_settings(
    body: IngestSettingsUpdate, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> IngestSettingsRead:
    """Change some settings; they apply to the next export (other replicas: within seconds)."""
    changes = body.model_dump(exclude_unset=True)
    if body.redaction is not None:
        changes["redaction"] = body.redaction.model_dump()  # replaced whole: defaults included
    view = await ingest_settings.update(session, scope, changes, cache=container.ingest_config)
    return _read(view)


@router.delete("/api/settings/ingest", response_model=IngestSettingsRead)
async def reset_ingest_settings(
    scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> IngestSettingsRead:
    """Every ingest setting back to the server default (price overrides are kept)."""
    return _read(await ingest_settings.reset(session, scope, cache=container.ingest_config))


@router.get("/api/settings/ingest/detectors", response_model=list[DetectorRead])
async def list_detectors(scope: AppScopeDep) -> list[DetectorRead]:
    """Every redaction detector: ids to name in `pii_entities`, `actions`, `disabled_detectors`."""
    scope.require("settings:read")
    return [
        DetectorRead(
            id=d.id,
            kind=d.kind,
            description=d.description,
            enabled_by_default=d.kind == "credential" or d.id in DEFAULT_PII_ENTITIES,
        )
        for d in ALL_DETECTORS
    ]
