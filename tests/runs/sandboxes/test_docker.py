"""The Docker adapter: the container it asks for, and its conversation with the daemon.

No Docker daemon runs here; a fake one behind `httpx2.MockTransport` stands in for it (the
daemon is an external edge) and answers as the Engine API documents.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from corral.runs.sandboxes.base import ResourceLimits, SandboxSpec
from corral.runs.sandboxes.docker import DockerAdapter, DockerError
from corral.runs.sandboxes.docker_requests import (
    LogDemuxer,
    container_name,
    create_container_body,
    frame,
)

LIMITS = ResourceLimits(memory_bytes=256 * 2**20, cpu_seconds=30, max_processes=64)


def _spec(tmp_path: Path) -> SandboxSpec:
    return SandboxSpec(
        run_id="run/1",
        command=["/usr/bin/python3", "-m", "corral.runtime"],
        work_dir=tmp_path / "work",
        socket_dir=tmp_path / "sock",
        read_only_paths=[Path("/opt/python")],
        env={"HOME": "/work", "CORRAL_SIDECAR_SOCKET": "/run/corral/sidecar.sock"},
        limits=LIMITS,
        read_only_mounts={"/opt/corral/runtime": tmp_path / "root"},
    )


def test_the_container_is_locked_down(tmp_path: Path) -> None:
    body = create_container_body(_spec(tmp_path), image="corral/runtime:1", nano_cpus=500_000_000)

    host = body["HostConfig"]
    assert body["Image"] == "corral/runtime:1"
    assert body["Cmd"] == ["/usr/bin/python3", "-m", "corral.runtime"]
    assert body["Env"] == ["HOME=/work", "CORRAL_SIDECAR_SOCKET=/run/corral/sidecar.sock"]
    assert body["User"] == "65534:65534"
    assert body["WorkingDir"] == "/work"
    assert body["NetworkDisabled"] is True
    assert host["NetworkMode"] == "none"
    assert host["CapDrop"] == ["ALL"]
    assert host["ReadonlyRootfs"] is True
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert (host["Memory"], host["MemorySwap"]) == (256 * 2**20, 256 * 2**20)
    assert host["NanoCpus"] == 500_000_000
    assert host["PidsLimit"] == 64
    assert host["Ulimits"] == [{"Name": "cpu", "Soft": 30, "Hard": 31}]
    assert set(host["Tmpfs"]) == {"/tmp"}
    assert host["AutoRemove"] is True
    assert host["Privileged"] is False
    assert host["Binds"] == [
        "/opt/python:/opt/python:ro",
        f"{tmp_path / 'root'}:/opt/corral/runtime:ro",
        f"{tmp_path / 'work'}:/work:rw",
        f"{tmp_path / 'sock'}:/run/corral:ro",
    ]
    assert container_name("run/1") == "corral-run-run_1"


def test_the_log_stream_is_demultiplexed_across_chunk_boundaries() -> None:
    stream = frame(1, b"out\n") + frame(2, b"err\n") + frame(1, b"")
    demux = LogDemuxer()

    out = b"".join(demux.feed(stream[i : i + 3]) for i in range(0, len(stream), 3))

    assert out == b"out\nerr\n"


class FakeDockerDaemon:
    """Answers create, wait, start, logs and kill for one container, as the Engine API does."""

    def __init__(self, *, exit_code: int = 0, exits_by_itself: bool = True) -> None:
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.created: dict[str, Any] = {}
        self.exit_code = exit_code
        self.exits_by_itself = exits_by_itself
        self.exited = asyncio.Event()
        self.started = asyncio.Event()

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)

    async def _wait_body(self) -> AsyncIterator[bytes]:
        await self.exited.wait()
        yield orjson.dumps({"StatusCode": self.exit_code, "Error": None})

    async def _log_body(self) -> AsyncIterator[bytes]:
        await self.started.wait()
        yield frame(1, b"hello ")
        yield frame(2, b"from the container\n")
        if self.exits_by_itself:
            self.exited.set()
        await self.exited.wait()

    async def handle(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.removeprefix("/v1.43")
        self.calls.append((request.method, path, dict(request.url.params)))
        if (request.method, path) == ("POST", "/containers/create"):
            self.created = orjson.loads(request.content)
            return httpx2.Response(201, json={"Id": "c0ffee", "Warnings": []})
        if (request.method, path) == ("POST", "/containers/c0ffee/wait"):
            return httpx2.Response(200, content=self._wait_body())
        if (request.method, path) == ("POST", "/containers/c0ffee/start"):
            self.started.set()
            return httpx2.Response(204)
        if (request.method, path) == ("GET", "/containers/c0ffee/logs"):
            return httpx2.Response(200, content=self._log_body())
        if (request.method, path) == ("POST", "/containers/c0ffee/kill"):
            if self.exited.is_set():
                return httpx2.Response(409, json={"message": "container is not running"})
            self.exit_code = 128 + signal.SIGKILL
            self.exited.set()
            return httpx2.Response(204)
        return httpx2.Response(404, json={"message": f"no route {path}"})


async def test_a_run_creates_waits_starts_and_collects_the_exit_and_logs(tmp_path: Path) -> None:
    daemon = FakeDockerDaemon(exit_code=3)
    adapter = DockerAdapter(image="corral/runtime:1", transport=daemon.transport())

    ended = await (await adapter.start(_spec(tmp_path))).wait()

    assert (ended.exit_code, ended.signal, ended.reason) == (3, None, None)
    assert ended.output_tail == "hello from the container\n"
    steps = [(method, path) for method, path, _ in daemon.calls]
    # The wait is open before the start, so a fast exit cannot be missed.
    assert steps[:3] == [
        ("POST", "/containers/create"),
        ("POST", "/containers/c0ffee/wait"),
        ("POST", "/containers/c0ffee/start"),
    ]
    assert daemon.calls[0][2] == {"name": "corral-run-run_1"}
    assert daemon.calls[1][2] == {"condition": "next-exit"}
    assert daemon.created["HostConfig"]["NetworkMode"] == "none"


async def test_kill_sends_sigkill_and_reports_killed_idempotently(tmp_path: Path) -> None:
    daemon = FakeDockerDaemon(exits_by_itself=False)
    adapter = DockerAdapter(transport=daemon.transport())
    process = await adapter.start(_spec(tmp_path))

    await process.kill()
    await process.kill()

    ended = await process.wait()
    assert (ended.reason, ended.signal, ended.exit_code) == ("killed", signal.SIGKILL, None)
    kills = [call for call in daemon.calls if call[1].endswith("/kill")]
    assert kills == [("POST", "/containers/c0ffee/kill", {"signal": "SIGKILL"})]


async def test_an_unrequested_sigkill_is_reported_as_the_memory_limit(tmp_path: Path) -> None:
    daemon = FakeDockerDaemon(exit_code=128 + signal.SIGKILL)
    ended = await (await DockerAdapter(transport=daemon.transport()).start(_spec(tmp_path))).wait()
    assert ended.reason == "memory_limit"


async def test_a_refused_create_is_an_error(tmp_path: Path) -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(404, json={"message": "No such image: corral/runtime:1"})

    adapter = DockerAdapter(transport=httpx2.MockTransport(refuse))
    with pytest.raises(DockerError, match="No such image"):
        await adapter.start(_spec(tmp_path))


def test_available_reports_a_missing_daemon(tmp_path: Path) -> None:
    reason = DockerAdapter(socket_path=str(tmp_path / "docker.sock")).available()
    assert reason is not None
    assert "no Docker daemon" in reason
