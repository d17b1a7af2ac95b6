"""Per-application ingest settings: redaction, sampling rate and retention overrides.

The settings row, once created, is never deleted (a reset writes the defaults): its `revision`
only grows, so a replica comparing revisions can never mistake new settings for cached ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.clock import utcnow
from corral.core.errors import InvalidInput
from corral.identity.access import AppScope
from corral.telemetry.redact import RedactionSettings, settings_problems
from corral.traces.ingest_config import IngestConfigCache, IngestDefaults, redaction_settings
from corral.traces.models import IngestSettings

_REDACTION_DEFAULTS: dict[str, Any] = {
    "redaction_enabled": True,
    "credentials": True,
    "pii_entities": None,
    "allowlist": [],
    "key_actions": {},
    "detector_actions": {},
    "default_action": "redact",
    "disabled_detectors": [],
}


@dataclass(frozen=True, slots=True)
class IngestSettingsView:
    """Stored overrides next to the values ingest actually uses."""

    application_id: str
    redaction: RedactionSettings
    sampling_rate: float | None
    effective_sampling_rate: float
    sampling_token_threshold: int | None
    retention_days: int | None
    effective_retention_days: int
    revision: int
    updated_at: datetime | None


async def get(
    session: AsyncSession, scope: AppScope, defaults: IngestDefaults
) -> IngestSettingsView:
    scope.require("settings:read")
    return _view(scope, await session.get(IngestSettings, scope.application_id), defaults)


async def update(
    session: AsyncSession,
    scope: AppScope,
    changes: dict[str, Any],
    *,
    cache: IngestConfigCache,
) -> IngestSettingsView:
    """Apply `changes` (`redaction` replaced whole; `null` means the server default)."""
    scope.require("settings:write")
    values: dict[str, Any] = {}
    if "redaction" in changes:
        values.update(_redaction_columns(changes["redaction"]))
    for name in ("sampling_rate", "retention_days"):
        if name in changes:
            values[name] = changes[name]
    row = await bump_revision(session, scope, cache=cache)
    for name, value in values.items():
        setattr(row, name, value)
    audit.record_in_application(
        session,
        scope,
        "ingest_settings.updated",
        target_type="application",
        target_id=scope.application_id,
        details={"changed": sorted(changes), "revision": row.revision},
    )
    return _view(scope, row, cache.defaults)


async def reset(
    session: AsyncSession, scope: AppScope, *, cache: IngestConfigCache
) -> IngestSettingsView:
    """Every setting back to its server default (price overrides are kept)."""
    scope.require("settings:write")
    row = await bump_revision(session, scope, cache=cache)
    for name, value in _REDACTION_DEFAULTS.items():
        setattr(row, name, value)
    row.sampling_rate = None
    row.retention_days = None
    audit.record_in_application(
        session,
        scope,
        "ingest_settings.reset",
        target_type="application",
        target_id=scope.application_id,
        details={"revision": row.revision},
    )
    return _view(scope, row, cache.defaults)


async def bump_revision(
    session: AsyncSession, scope: AppScope, *, cache: IngestConfigCache
) -> IngestSettings:
    """The application's settings row, created with defaults if needed, at a new revision.

    One upsert, so concurrent changes never collide on creating the row and each one moves the
    revision. Replicas drop their cached settings once this transaction commits.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    statement = insert(IngestSettings).values(
        application_id=scope.application_id,
        org_id=scope.org_id,
        **_REDACTION_DEFAULTS,
        revision=1,
        created_at=now,
        updated_at=now,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[IngestSettings.application_id],
        set_={"revision": IngestSettings.revision + 1, "updated_at": now},
    )
    await session.execute(statement)
    row = await session.get(IngestSettings, scope.application_id, populate_existing=True)
    assert row is not None
    cache.invalidate_after_commit(session, scope.application_id)
    return row


def _redaction_columns(config: dict[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return dict(_REDACTION_DEFAULTS)
    settings = RedactionSettings(
        enabled=config["enabled"],
        credentials=config["credentials"],
        pii_entities=frozenset(config["pii_entities"]),
        allowlist=frozenset(config["allowlist"]),
        key_actions=config["key_actions"],
        actions=config["actions"],
        default_action=config["default_action"],
        disabled_detectors=frozenset(config["disabled_detectors"]),
    )
    problems = settings_problems(settings)
    if problems:
        raise InvalidInput("; ".join(problems), code="invalid_redaction_settings")
    return {
        "redaction_enabled": settings.enabled,
        "credentials": settings.credentials,
        "pii_entities": sorted(settings.pii_entities),
        "allowlist": sorted(settings.allowlist),
        "key_actions": dict(settings.key_actions),
        "detector_actions": dict(settings.actions),
        "default_action": settings.default_action,
        "disabled_detectors": sorted(settings.disabled_detectors),
    }


def _view(
    scope: AppScope, row: IngestSettings | None, defaults: IngestDefaults
) -> IngestSettingsView:
    rate = row.sampling_rate if row is not None else None
    days = row.retention_days if row is not None else None
    redaction = redaction_settings(row, None) if row is not None else RedactionSettings()
    return IngestSettingsView(
        application_id=scope.application_id,
        redaction=redaction,
        sampling_rate=rate,
        effective_sampling_rate=defaults.sampling_rate if rate is None else rate,
        sampling_token_threshold=defaults.token_threshold,
        retention_days=days,
        effective_retention_days=defaults.retention_days if days is None else days,
        revision=row.revision if row is not None else 0,
        updated_at=row.updated_at if row is not None else None,
    )
