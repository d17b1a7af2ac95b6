"""A service call in a savepoint, for changes that may be refused by the database itself.

A unique-name refusal comes from a failed flush, which rolls back a whole transaction and
expires everything the request loaded (the signed-in user the page shows among them). Inside a
savepoint only the savepoint is rolled back, so the page can still be drawn around the refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from corral.core.errors import CorralError

T = TypeVar("T")


async def attempt_isolated(
    session: AsyncSession, change: Callable[[], Awaitable[T]]
) -> T | CorralError:
    """The change's result, or its refusal with everything it wrote rolled back."""
    try:
        async with session.begin_nested():
            return await change()
    except CorralError as exc:
        return exc
