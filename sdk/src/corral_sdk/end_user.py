"""The end user on whose behalf the code inside a `with client.end_user(id):` block acts.

A context variable, so it follows threads started with a copied context and asyncio tasks, and
two concurrent requests of a web server each see their own end user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_current: ContextVar[str | None] = ContextVar("corral_end_user", default=None)


def current_end_user() -> str | None:
    return _current.get()


@contextmanager
def end_user_scope(external_id: str) -> Iterator[str]:
    """Set the end user (your own id for them) for the checks and spans inside the block."""
    if not isinstance(external_id, str) or not external_id:
        raise ValueError("the end user id must be a non-empty string")
    token = _current.set(external_id)
    try:
        yield external_id
    finally:
        _current.reset(token)
