"""The runtime's HTTP client for its sidecar: the only way out of the sandbox, a unix socket."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2

from corral.runtime.assignment import Assignment
from corral.runtime.protocol import (
    ASSIGNMENT_PATH,
    ERROR_PATH,
    LOG_PATH,
    OUTPUT_PATH,
    SIDECAR_ORIGIN,
    TOOL_PATH_PREFIX,
)

# Model calls and tool calls that wait for an approval may take long; the executor enforces the
# run's real timeout by killing the sandbox.
_TIMEOUT = httpx2.Timeout(3600.0, connect=5.0)
_CONNECT_RETRY_SECONDS = 0.05
# The sidecar binds before the runtime starts; a socket that stays unreachable means it is gone.
_CONNECT_PATIENCE_SECONDS = 10.0


class SidecarError(Exception):
    """The sidecar answered something the protocol does not allow."""


def http_client(socket_path: str) -> httpx2.AsyncClient:
    """An HTTP client whose every request goes to the sidecar's unix socket."""
    transport = httpx2.AsyncHTTPTransport(uds=socket_path, trust_env=False)
    return httpx2.AsyncClient(
        transport=transport, base_url=SIDECAR_ORIGIN, timeout=_TIMEOUT, trust_env=False
    )


class SidecarClient:
    def __init__(self, client: httpx2.AsyncClient) -> None:
        self._client = client

    async def wait_for_assignment(self) -> Assignment:
        """Long-polls until the run is assigned; the runtime may start long before that."""
        loop = asyncio.get_running_loop()
        reachable_at = loop.time()
        while True:
            try:
                response = await self._client.get(ASSIGNMENT_PATH)
            except httpx2.ConnectError:
                if loop.time() - reachable_at > _CONNECT_PATIENCE_SECONDS:
                    raise
                await asyncio.sleep(_CONNECT_RETRY_SECONDS)
                continue
            reachable_at = loop.time()
            if response.status_code == 200:
                return Assignment.model_validate_json(response.content)
            if response.status_code != 204:
                raise SidecarError(f"assignment: unexpected HTTP {response.status_code}")

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The sidecar's outcome: {"status": "ok"|"refused"|"error", "result"?, "message"?}."""
        return await self._post(TOOL_PATH_PREFIX + name, {"arguments": arguments})

    async def log(self, level: str, message: str) -> None:
        await self._post(LOG_PATH, {"level": level, "message": message})

    async def output(self, output: Any) -> None:
        await self._post(OUTPUT_PATH, {"output": output})

    async def error(self, code: str, message: str) -> None:
        await self._post(ERROR_PATH, {"code": code, "message": message})

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self._client.post(path, json=body)
        if response.status_code != 200:
            raise SidecarError(f"{path}: HTTP {response.status_code}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer
