"""Export an application's policies as YAML or JSON, and import such a file.

An import checks every policy (schema and engine) before it writes anything, reports each
problem with the policy's index in the file, and matches policies by name: a known name is
updated (a new version when something changed), an unknown one is created; in `replace` mode
the application's policies missing from the file are deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
import orjson
import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.audit import service as audit
from corral.core.errors import InvalidDefinition, PayloadTooLarge, UnsupportedMediaType
from corral.governance import policies
from corral.governance.access import require_writer
from corral.governance.governance_settings import bump_revision
from corral.governance.history import FIELDS, snapshot
from corral.governance.models import PolicyRecord
from corral.governance.schemas import ImportedPolicy, ImportResult, PolicyFields
from corral.governance.validation import problems_of, refuse
from corral.identity.access import AppScope

FORMAT = "corral.policies/v1"
MAX_IMPORT_POLICIES = 500
JSON_TYPES = frozenset({"application/json"})
YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

ExportFormat = Literal["yaml", "json"]
ImportMode = Literal["merge", "replace"]


def _malformed(message: str, line: int | None = None, column: int | None = None) -> None:
    problem: dict[str, Any] = {"message": message}
    if line is not None and column is not None:
        problem |= {"line": line, "column": column}
    raise InvalidDefinition(
        f"the document cannot be read: {message}",
        code="malformed_document",
        extra={"problems": [problem]},
    )


def _load_yaml(body: bytes) -> Any:
    try:
        # Aliases can describe a document exponentially larger than its text, so none are read.
        for event in yaml.parse(body, Loader=_Loader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
                _malformed("YAML aliases are not accepted", line, column)
        return yaml.load(body, Loader=_Loader)  # noqa: S506 - a safe loader, chosen above
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        _malformed(str(exc.problem or exc), *where)
    except yaml.YAMLError as exc:
        _malformed(str(exc))
    return None


def parse(body: bytes, content_type: str | None) -> list[Any]:
    """The policies of an import document (JSON or YAML by Content-Type), not yet checked."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    document: Any = None
    if media in JSON_TYPES:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            _malformed(str(exc))
    elif media in YAML_TYPES:
        document = _load_yaml(body)
    else:
        raise UnsupportedMediaType(
            "send the policies as application/json or application/yaml",
            code="unsupported_media_type",
        )
    items = document.get("policies") if isinstance(document, dict) else document
    if not isinstance(items, list):
        _malformed('expected a list of policies, or an object with a "policies" list')
    assert isinstance(items, list)
    if len(items) > MAX_IMPORT_POLICIES:
        raise PayloadTooLarge(
            f"an import holds at most {MAX_IMPORT_POLICIES} policies, this one {len(items)}",
            code="too_many_policies",
        )
    return items


def _validation_problems(index: int, name: Any, error: ValidationError) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "name": name if isinstance(name, str) else None,
            "field": ".".join(str(part) for part in detail["loc"]) or None,
            "message": detail["msg"],
        }
        for detail in error.errors()
    ]


def check_all(items: Sequence[Any]) -> list[PolicyFields]:
    """Every policy checked; one error listing every problem, by index, if any is invalid."""
    problems: list[dict[str, Any]] = []
    definitions: list[PolicyFields] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append({"index": index, "field": None, "message": "must be an object"})
            continue
        try:
            fields = PolicyFields.model_validate(item)
        except ValidationError as exc:
            problems += _validation_problems(index, item.get("name"), exc)
            continue
        problems += [{"index": index, "name": fields.name, **p} for p in problems_of(fields)]
        if fields.name in first_index:
            first = first_index[fields.name]
            problems.append(
                {
                    "index": index,
                    "name": fields.name,
                    "field": "name",
                    "message": f"appears more than once (first at index {first})",
                }
            )
        first_index.setdefault(fields.name, index)
        definitions.append(fields)
    invalid = len({p["index"] for p in problems})
    refuse(problems, f"{invalid} of {len(items)} policies are invalid; nothing was imported")
    return definitions


@dataclass
class _Plan:
    create: list[tuple[int, PolicyFields]] = field(default_factory=list)
    update: list[tuple[int, PolicyFields, PolicyRecord]] = field(default_factory=list)
    unchanged: list[tuple[int, PolicyRecord]] = field(default_factory=list)
    delete: list[PolicyRecord] = field(default_factory=list)


def _plan(definitions: list[PolicyFields], existing: dict[str, PolicyRecord], mode: str) -> _Plan:
    plan = _Plan()
    for index, fields in enumerate(definitions):
        record = existing.get(fields.name)
        if record is None:
            plan.create.append((index, fields))
        elif fields.model_dump() == snapshot(record):
            plan.unchanged.append((index, record))
        else:
            plan.update.append((index, fields, record))
    if mode == "replace":
        named = {fields.name for fields in definitions}
        plan.delete = [r for name, r in sorted(existing.items()) if name not in named]
    return plan


async def import_policies(
    session: AsyncSession,
    scope: AppScope,
    body: bytes,
    *,
    content_type: str | None,
    mode: ImportMode,
    dry_run: bool,
) -> ImportResult:
    """Check every policy, then (unless `dry_run`) create, update and delete as planned."""
    require_writer(scope)
    # Parsing a large YAML document takes a while; it does not hold up the event loop.
    items = await anyio.to_thread.run_sync(parse, body, content_type)
    definitions = await anyio.to_thread.run_sync(check_all, items)
    rows = await session.scalars(
        select(PolicyRecord)
        .where(PolicyRecord.application_id == scope.application_id)
        .with_for_update()
    )
    plan = _plan(definitions, {record.name: record for record in rows}, mode)
    result = ImportResult(
        mode=mode,
        dry_run=dry_run,
        created=[],
        updated=[ImportedPolicy(index=i, name=f.name, id=r.id) for i, f, r in plan.update],
        unchanged=[ImportedPolicy(index=i, name=r.name, id=r.id) for i, r in plan.unchanged],
        deleted=[ImportedPolicy(index=None, name=r.name, id=r.id) for r in plan.delete],
    )
    if dry_run:
        result.created = [ImportedPolicy(index=i, name=f.name, id=None) for i, f in plan.create]
        return result
    for record in plan.delete:
        await policies.remove(session, scope, record)
    for _, fields, record in plan.update:
        await policies.apply(session, scope, record, fields.model_dump(), change="import")
    for index, fields in plan.create:
        record = await policies.insert(session, scope, fields, change="import")
        result.created.append(ImportedPolicy(index=index, name=fields.name, id=record.id))
    if plan.create or plan.update or plan.delete:
        await bump_revision(session, scope)
        audit.record_in_application(
            session,
            scope,
            "policy.imported",
            target_type="application",
            target_id=scope.application_id,
            details={
                "mode": mode,
                "created": [p.id for p in result.created],
                "updated": [p.id for p in result.updated],
                "deleted": [p.id for p in result.deleted],
            },
        )
    return result


async def export(session: AsyncSession, scope: AppScope) -> dict[str, Any]:
    """The application's policies in the portable form an import reads (no ids, no history)."""
    scope.require("policies:read")
    rows = await session.scalars(
        select(PolicyRecord)
        .where(PolicyRecord.application_id == scope.application_id)
        .order_by(PolicyRecord.priority.desc(), PolicyRecord.name)
    )
    return {"format": FORMAT, "policies": [{f: getattr(r, f) for f in FIELDS} for r in rows]}


def render(document: dict[str, Any], export_format: ExportFormat) -> tuple[bytes, str]:
    """The document's bytes and media type."""
    if export_format == "json":
        return orjson.dumps(document, option=orjson.OPT_INDENT_2), "application/json"
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return text.encode(), "application/yaml"
