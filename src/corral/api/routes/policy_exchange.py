"""Policies leaving and entering Corral: the SDK bundle, export and import."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from corral.api.deps import AppScopeDep, ContainerDep, SessionDep
from corral.api.openapi import ERRORS, problem_response
from corral.governance import exchange
from corral.governance.policy_sets import bundle_for
from corral.governance.schemas import BundleRead, ImportResult

router = APIRouter(tags=["policies"], responses=ERRORS)

_BUNDLE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": BundleRead,
        "description": "The bundle; `ETag` is its revision.",
        "content": {"application/json": {}},
    },
    304: {"description": "Not modified: the bundle still has the revision in If-None-Match."},
}
_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "properties": {"format": {"type": "string"}, "policies": {"type": "array"}},
}
_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The policies, in the form `POST /api/policies/import` reads.",
        "content": {
            "application/yaml": {"schema": _DOCUMENT},
            "application/json": {"schema": _DOCUMENT},
        },
    }
}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _DOCUMENT},
            "application/yaml": {"schema": _DOCUMENT},
        },
    }
}
_IMPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: problem_response(
        "A policy is invalid (`problems` lists each, by index) or the document cannot be read."
    ),
    413: problem_response("Body too large, or more than 500 policies."),
    415: problem_response("Not application/json or application/yaml."),
}


def _none_match(header: str | None, etag: str) -> bool:
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


@router.get(
    "/api/policies/bundle",
    response_class=Response,
    responses=_BUNDLE_RESPONSES,
    summary="The policy bundle an SDK or sidecar enforces",
)
async def get_bundle(
    request: Request, scope: AppScopeDep, session: SessionDep, container: ContainerDep
) -> Response:
    """Enabled policies and the default posture. Send the ETag back as If-None-Match."""
    compiled = await bundle_for(session, scope, container.policy_sets)
    headers = {"ETag": compiled.etag, "Cache-Control": "no-cache"}
    if _none_match(request.headers.get("if-none-match"), compiled.etag):
        return Response(status_code=304, headers=headers)
    return Response(compiled.bundle, media_type="application/json", headers=headers)


@router.get(
    "/api/policies/export",
    response_class=Response,
    responses=_EXPORT_RESPONSES,
    summary="Export the policies as YAML or JSON",
)
async def export_policies(
    scope: AppScopeDep,
    session: SessionDep,
    export_format: Annotated[exchange.ExportFormat, Query(alias="format")] = "yaml",
) -> Response:
    """Every policy of the application (no ids, no history), ready to import elsewhere."""
    document = await exchange.export(session, scope)
    content, media_type = exchange.render(document, export_format)
    filename = f"policies.{export_format}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post(
    "/api/policies/import",
    response_model=ImportResult,
    responses=_IMPORT_RESPONSES,
    openapi_extra=_IMPORT_BODY,
    summary="Import policies from YAML or JSON",
)
async def import_policies(
    request: Request,
    scope: AppScopeDep,
    session: SessionDep,
    mode: exchange.ImportMode = "merge",
    dry_run: bool = False,
) -> ImportResult:
    """Check every policy first; then upsert by name (`replace` also deletes the others)."""
    return await exchange.import_policies(
        session,
        scope,
        await request.body(),
        content_type=request.headers.get("content-type"),
        mode=mode,
        dry_run=dry_run,
    )
