"""Keyset (cursor) pagination over time-ordered primary keys."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from corral.core.errors import InvalidInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")


class Page(BaseModel, Generic[ItemT]):
    data: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("cursor is not one this API issued", code="invalid_cursor") from exc
    if not raw or len(raw) > 64 or not raw.isascii() or not raw.isprintable():
        raise InvalidInput("cursor is not one this API issued", code="invalid_cursor")
    return raw


async def paginate(
    session: AsyncSession,
    query: Select[RowT],
    id_column: InstrumentedAttribute[str],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[RowT], str | None]:
    """Newest first: rows after `cursor`, at most `limit`, and the cursor of the next page."""
    if cursor is not None:
        query = query.where(id_column < decode_cursor(cursor))
    rows = (await session.scalars(query.order_by(id_column.desc()).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last: Any = rows[-1]
    return rows, encode_cursor(last.id)
