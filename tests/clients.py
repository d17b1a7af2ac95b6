"""An HTTP client for tests that knows how to sign up, sign in and use API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from fastapi import FastAPI

PASSWORD = "correct horse battery staple"


class ApiClient(httpx2.AsyncClient):
    """An `httpx2.AsyncClient` on the app, remembering its user, org, app and CSRF token."""

    user_id: str
    org_id: str
    app_id: str
    email: str

    async def register(
        self,
        email: str,
        *,
        org: str | None = None,
        password: str = PASSWORD,
        invitation_token: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"email": email, "password": password, "name": email.split("@")[0]}
        if org is not None:
            body["organization_name"] = org
        if invitation_token is not None:
            body["invitation_token"] = invitation_token
        response = await self.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        self._adopt_session(data)
        await self.refresh_identity()
        return data

    async def login(self, email: str, password: str = PASSWORD) -> httpx2.Response:
        response = await self.post("/api/auth/login", json={"email": email, "password": password})
        if response.status_code == 200:
            self._adopt_session(response.json())
        return response

    def _adopt_session(self, data: dict[str, Any]) -> None:
        self.headers["X-CSRF-Token"] = data["csrf_token"]
        self.user_id = data["user"]["id"]
        self.email = data["user"]["email"]

    async def refresh_identity(self) -> None:
        me = (await self.get("/api/me")).json()
        self.org_id = me["org_id"]
        self.app_id = me["application_id"]

    async def create_key(
        self, scopes: list[str], *, name: str = "test key", **extra: Any
    ) -> dict[str, Any]:
        response = await self.post("/api/api-keys", json={"name": name, "scopes": scopes, **extra})
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data


@asynccontextmanager
async def asgi_client(app: FastAPI, *, token: str | None = None) -> AsyncIterator[ApiClient]:
    """A client talking to the app in-process; with `token`, authenticated by that API key."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx2.ASGITransport(app=app)
    async with ApiClient(
        transport=transport, base_url="http://127.0.0.1:4318", headers=headers
    ) as c:
        yield c
