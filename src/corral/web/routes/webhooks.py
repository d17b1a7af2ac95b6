"""Webhook endpoints of the viewer's application: create (the secret shown once), edit, rotate,
test, delete; their deliveries with each attempt, and replay."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Form, Path, Query, Request
from pydantic import ValidationError
from starlette.responses import Response

from corral.api.deps import ContainerDep, SessionDep
from corral.container import Container
from corral.core.errors import InvalidInput
from corral.web.errors import page_router
from corral.web.responses import PagesDep, after_post, page_context
from corral.web.scopes import app_scope
from corral.web.viewer import CheckedViewerDep, Viewer, ViewerDep
from corral.webhooks import service
from corral.webhooks.event_types import WEBHOOK_EVENT_TYPES
from corral.webhooks.models import WebhookEndpoint
from corral.webhooks.schemas import EndpointCreate, EndpointUpdate

router = page_router()

WEBHOOKS_PATH = "/webhooks"
PAGE_SIZE = 50
EndpointId = Annotated[str, Path(max_length=64)]
DeliveryId = Annotated[str, Path(max_length=64)]
Cursor = Annotated[str | None, Query(max_length=200)]
EventTypes = Annotated[list[str], Form(max_length=64)]


def webhook_policy(container: Container) -> service.WebhookPolicy:
    return service.WebhookPolicy(
        production=container.settings.is_production, settings=container.settings.webhooks
    )


def _endpoint_href(endpoint_id: str) -> str:
    return f"{WEBHOOKS_PATH}/{endpoint_id}"


def _checked(build: Any) -> Any:
    """A request body from form fields, its validation error shown like the API's."""
    try:
        return build()
    except ValidationError as exc:
        fields = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
        raise InvalidInput(
            "check these fields: " + ", ".join(fields).replace("_", " "), code="invalid_form"
        ) from exc


async def _endpoint_page(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    pages: PagesDep,
    endpoint: WebhookEndpoint,
    *,
    cursor: str | None,
    delivery_status: str | None,
    secret: str | None = None,
) -> Response:
    rows, following = await service.deliveries_page(
        session,
        app_scope(viewer),
        endpoint.id,
        status=delivery_status,
        cursor=cursor,
        limit=PAGE_SIZE,
    )
    status_query = f"status={delivery_status}&" if delivery_status else ""
    return pages.render(
        "webhook.html",
        page_context(
            request,
            viewer,
            title=f"Webhook {endpoint.url}",
            endpoint=endpoint,
            deliveries=rows,
            delivery_status=delivery_status or "",
            event_types=WEBHOOK_EVENT_TYPES,
            can_write=viewer.can("webhooks:write"),
            secret=secret,
            next_href=(
                f"{_endpoint_href(endpoint.id)}?{status_query}cursor={following}"
                if following
                else None
            ),
        ),
    )


@router.get(WEBHOOKS_PATH)
async def webhooks_page(
    request: Request, viewer: ViewerDep, session: SessionDep, pages: PagesDep, cursor: Cursor = None
) -> Response:
    rows, following = await service.list_page(
        session, app_scope(viewer), cursor=cursor, limit=PAGE_SIZE
    )
    return pages.render(
        "webhooks.html",
        page_context(
            request,
            viewer,
            title="Webhooks",
            endpoints=rows,
            event_types=WEBHOOK_EVENT_TYPES,
            can_write=viewer.can("webhooks:write"),
            next_href=f"{WEBHOOKS_PATH}?cursor={following}" if following else None,
        ),
    )


@router.post(WEBHOOKS_PATH)
async def create_webhook(
    request: Request,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
    url: Annotated[str, Form(max_length=2000)] = "",
    description: Annotated[str, Form(max_length=500)] = "",
    event_types: EventTypes = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    body: EndpointCreate = _checked(
        lambda: EndpointCreate.model_validate(
            {"url": url.strip(), "description": description, "event_types": event_types}
        )
    )
    endpoint, secret = await service.create(
        session, app_scope(viewer), container.keyring, webhook_policy(container), body
    )
    await session.flush()  # the page below reads the endpoint back
    # The only time the secret is in a page: this response.
    return await _endpoint_page(
        request, viewer, session, pages, endpoint, cursor=None, delivery_status=None, secret=secret
    )


@router.get(WEBHOOKS_PATH + "/{endpoint_id}")
async def webhook_page(
    request: Request,
    endpoint_id: EndpointId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
    cursor: Cursor = None,
    status: Annotated[Literal["pending", "succeeded", "dead", ""], Query()] = "",
) -> Response:
    endpoint = await service.get(session, app_scope(viewer), endpoint_id)
    return await _endpoint_page(
        request, viewer, session, pages, endpoint, cursor=cursor, delivery_status=status or None
    )


@router.post(WEBHOOKS_PATH + "/{endpoint_id}")
async def update_webhook(
    request: Request,
    endpoint_id: EndpointId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    container: ContainerDep,
    description: Annotated[str, Form(max_length=500)] = "",
    enabled: Annotated[str, Form(max_length=8)] = "",
    event_types: EventTypes = [],  # noqa: B006 (FastAPI copies it)
) -> Response:
    body: EndpointUpdate = _checked(
        lambda: EndpointUpdate.model_validate(
            {"description": description, "event_types": event_types, "enabled": enabled == "on"}
        )
    )
    await service.update(session, app_scope(viewer), webhook_policy(container), endpoint_id, body)
    return after_post(request, _endpoint_href(endpoint_id))


@router.post(WEBHOOKS_PATH + "/{endpoint_id}/rotate-secret")
async def rotate_secret(
    request: Request,
    endpoint_id: EndpointId,
    viewer: CheckedViewerDep,
    session: SessionDep,
    pages: PagesDep,
    container: ContainerDep,
) -> Response:
    endpoint, secret = await service.rotate_secret(
        session,
        app_scope(viewer),
        container.keyring,
        webhook_policy(container),
        endpoint_id,
        overlap_seconds=None,
    )
    return await _endpoint_page(
        request, viewer, session, pages, endpoint, cursor=None, delivery_status=None, secret=secret
    )


@router.post(WEBHOOKS_PATH + "/{endpoint_id}/test")
async def send_test(
    request: Request, endpoint_id: EndpointId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await service.send_test(session, app_scope(viewer), endpoint_id)
    return after_post(request, _endpoint_href(endpoint_id))


@router.post(WEBHOOKS_PATH + "/{endpoint_id}/delete")
async def delete_webhook(
    request: Request, endpoint_id: EndpointId, viewer: CheckedViewerDep, session: SessionDep
) -> Response:
    await service.delete(session, app_scope(viewer), endpoint_id)
    return after_post(request, WEBHOOKS_PATH)


@router.get(WEBHOOKS_PATH + "/{endpoint_id}/deliveries/{delivery_id}")
async def delivery_page(
    request: Request,
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
    viewer: ViewerDep,
    session: SessionDep,
    pages: PagesDep,
) -> Response:
    view = await service.get_delivery(session, app_scope(viewer), endpoint_id, delivery_id)
    return pages.render(
        "webhook_delivery.html",
        page_context(
            request,
            viewer,
            title=f"Delivery {view.delivery.id}",
            view=view,
            endpoint_href=_endpoint_href(endpoint_id),
            can_write=viewer.can("webhooks:write"),
        ),
    )


@router.post(WEBHOOKS_PATH + "/{endpoint_id}/deliveries/{delivery_id}/replay")
async def replay_delivery(
    request: Request,
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
    viewer: CheckedViewerDep,
    session: SessionDep,
) -> Response:
    copy, _ = await service.replay(session, app_scope(viewer), endpoint_id, delivery_id)
    return after_post(request, f"{_endpoint_href(endpoint_id)}/deliveries/{copy.id}")
