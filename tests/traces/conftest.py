"""Fixtures of the trace tests: a client holding an API key of the owner's application."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.clients import ApiClient, asgi_client
from tests.traces.support import WRITER_SCOPES


@pytest.fixture
async def writer(owner: ApiClient, app: FastAPI) -> AsyncIterator[ApiClient]:
    """An API key client that can send, read and configure the owner's application's traces."""
    key = await owner.create_key(WRITER_SCOPES)
    async with asgi_client(app, token=key["key"]) as c:
        c.org_id, c.app_id = owner.org_id, owner.app_id
        yield c
