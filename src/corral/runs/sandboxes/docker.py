"""Docker Engine API sandbox: one container per run, over the daemon's unix socket.

Create, open the wait (before start, so the exit cannot be missed), start, follow the logs,
and kill with SIGKILL. With AutoRemove the daemon removes the container once it exits, so a
Corral that crashes leaves none behind; the price is that the exit is read from the wait
alone: an unrequested SIGKILL (exit 137) is reported as the memory limit, the only other
sender of SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from typing import Any

import httpx2

from corral.runs.sandboxes.base import SandboxExit, SandboxSpec
from corral.runs.sandboxes.docker_requests import (
    API_VERSION,
    DEFAULT_IMAGE,
    LogDemuxer,
    container_name,
    create_container_body,
)
from corral.runs.sandboxes.output_tail import OutputTail

DOCKER_SOCKET = "/var/run/docker.sock"
_SIGKILL_EXIT = 128 + signal.SIGKILL


class DockerError(RuntimeError):
    pass


def _check(response: httpx2.Response, *ok: int) -> None:
    if response.status_code not in ok:
        raise DockerError(
            f"docker {response.request.url.path}: {response.status_code} {response.text}"
        )


class DockerAdapter:
    name = "docker"
    isolated = True

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        socket_path: str = DOCKER_SOCKET,
        nano_cpus: int = 1_000_000_000,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.image = image
        self._socket_path = socket_path
        self._nano_cpus = nano_cpus
        self._transport = transport

    def _client(self) -> httpx2.AsyncClient:
        transport = self._transport or httpx2.AsyncHTTPTransport(uds=self._socket_path)
        return httpx2.AsyncClient(
            transport=transport, base_url=f"http://docker/{API_VERSION}", timeout=None
        )

    def available(self) -> str | None:
        if self._transport is not None:
            return None
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(2.0)
            probe.connect(self._socket_path)
        except OSError as exc:
            return f"no Docker daemon at {self._socket_path}: {exc.strerror or exc}"
        finally:
            probe.close()
        return None

    async def start(self, spec: SandboxSpec) -> DockerSandbox:
        client = self._client()
        try:
            body = create_container_body(spec, image=self.image, nano_cpus=self._nano_cpus)
            created = await client.post(
                "/containers/create", params={"name": container_name(spec.run_id)}, json=body
            )
            _check(created, 201)
            container_id: str = created.json()["Id"]
            # The daemon answers the wait's headers at once and its body at the exit.
            wait = await client.send(
                client.build_request(
                    "POST", f"/containers/{container_id}/wait", params={"condition": "next-exit"}
                ),
                stream=True,
            )
            _check(wait, 200)
            started = await client.post(f"/containers/{container_id}/start")
            _check(started, 204, 304)
        except BaseException:
            await client.aclose()
            raise
        return DockerSandbox(client, container_id, wait, spec)


class DockerSandbox:
    def __init__(
        self,
        client: httpx2.AsyncClient,
        container_id: str,
        wait_response: httpx2.Response,
        spec: SandboxSpec,
    ) -> None:
        self.container_id = container_id
        self._client = client
        self._killed = False
        self._tail = OutputTail(spec.output_tail_bytes)
        self._logs = asyncio.create_task(self._follow_logs())
        self._finished = asyncio.create_task(self._finish(wait_response))

    @property
    def pid(self) -> int | None:
        return None

    async def _follow_logs(self) -> None:
        demux = LogDemuxer()
        params = {"follow": "true", "stdout": "true", "stderr": "true"}
        with contextlib.suppress(httpx2.HTTPError):
            async with self._client.stream(
                "GET", f"/containers/{self.container_id}/logs", params=params
            ) as response:
                if response.status_code != 200:
                    return
                async for chunk in response.aiter_raw():
                    self._tail.feed(demux.feed(chunk))

    async def _finish(self, wait_response: httpx2.Response) -> SandboxExit:
        try:
            await wait_response.aread()
            result: dict[str, Any] = wait_response.json()
            await self._logs
        finally:
            await wait_response.aclose()
            await self._client.aclose()
        code = int(result.get("StatusCode", -1))
        error = (result.get("Error") or {}).get("Message")
        signal_number = code - 128 if code > 128 else None
        if self._killed:
            reason: str | None = "killed"
        elif code == _SIGKILL_EXIT:
            reason = "memory_limit"
        elif signal_number == signal.SIGXCPU:
            reason = "cpu_limit"
        else:
            reason = None
        return SandboxExit(
            exit_code=None if signal_number else code,
            signal=signal_number,
            reason=reason,
            output_tail=self._tail.text(),
            notes=(f"docker: {error}",) if error else (),
        )

    async def wait(self) -> SandboxExit:
        return await asyncio.shield(self._finished)

    async def kill(self) -> None:
        if not self._finished.done():
            self._killed = True
            response = await self._client.post(
                f"/containers/{self.container_id}/kill", params={"signal": "SIGKILL"}
            )
            # 404: already removed; 409: not running any more. Either way it is gone.
            _check(response, 204, 404, 409)
        await self.wait()
