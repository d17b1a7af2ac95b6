"""What the control pages (approvals, halts, budgets) share: the viewer's application, refusals
shown on the page, and how times and amounts read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.api.errors import status_of
from corral.container import Container
from corral.core.clock import as_utc
from corral.core.errors import CorralError, NotFound
from corral.identity.access import AppScope
from corral.web.viewer import Viewer, reading

T = TypeVar("T")

PAGE_SIZE = 50


def scope_of(viewer: Viewer) -> AppScope:
    """The application the page shows; a user of no organization has none to show."""
    if viewer.scope is None:
        raise NotFound("application", code="application_not_found")
    return viewer.scope


async def attempt(session: AsyncSession, change: Awaitable[T]) -> T | CorralError:
    """A service call in a savepoint, or the refusal it raised, for the page to show.

    A refusal by the database itself (a taken name fails the flush) would roll back the whole
    transaction and expire everything the request loaded, the signed-in user the page shows
    among them; inside a savepoint only what the call wrote is rolled back. The caller then
    renders its answer (`show_refusal`) and `discard`s the request's remaining writes.
    """
    try:
        async with session.begin_nested():
            return await change
    except CorralError as exc:
        return exc


async def discard(session: AsyncSession, response: T) -> T:
    """Roll back what a refused call may have written before it refused, so it is never
    committed with the request."""
    await session.rollback()
    return response


async def show_refusal(
    container: Container,
    session: AsyncSession,
    refusal: CorralError,
    render: Callable[[AsyncSession, int, str], Awaitable[T]],
) -> T:
    """The page again with the service's refusal on it, then the request's writes discarded.

    `render(session, status, message)` reads through a session of its own: rolling the
    request's session back first would expire the signed-in user the page shows.
    """
    async with reading(container) as fresh:
        page = await render(fresh, status_of(refusal), refusal.detail)
    return await discard(session, page)


def validation_message(exc: ValidationError) -> str:
    """The form's mistakes in one sentence per field."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"] if part != "body")
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def amount(value: Decimal, metric: str) -> str:
    """USD with cents (more digits only when they matter); calls as a whole number."""
    if metric == "calls":
        return f"{value:,.0f} calls"
    cents = value.quantize(Decimal("0.01"))
    if cents == value or abs(value) >= 1:
        return f"${cents:,.2f}"
    return f"${value.normalize():f}"


@dataclass(frozen=True, slots=True)
class UsageBar:
    """A usage bar drawn as SVG (the CSP forbids inline styles): used share, held share, and the
    threshold's mark, each in percent of the limit, clamped to the bar."""

    used_percent: float
    reserved_percent: float
    threshold_percent: int | None
    exceeded: bool
    label: str

    @property
    def used_width(self) -> float:
        return round(min(100.0, max(0.0, self.used_percent)), 2)

    @property
    def reserved_width(self) -> float:
        return round(min(100.0 - self.used_width, max(0.0, self.reserved_percent)), 2)

    @property
    def over_threshold(self) -> bool:
        return self.threshold_percent is not None and self.used_percent >= self.threshold_percent


def usage_bar(
    used: Decimal, reserved: Decimal, limit: Decimal, threshold: int | None, metric: str
) -> UsageBar:
    used_percent = float(used / limit * 100) if limit else 100.0
    reserved_percent = float(reserved / limit * 100) if limit else 0.0
    label = f"{amount(used, metric)} of {amount(limit, metric)} used ({used_percent:.1f}%)"
    if reserved > 0:
        label += f", {amount(reserved, metric)} held by calls in flight"
    if threshold is not None:
        label += f"; warning at {threshold}%"
    return UsageBar(used_percent, reserved_percent, threshold, used >= limit, label)
