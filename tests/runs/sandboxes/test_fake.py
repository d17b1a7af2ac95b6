"""The fake adapter the executor's tests script."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from corral.runs.sandboxes.base import ResourceLimits, SandboxAdapter, SandboxExit, SandboxSpec
from corral.runs.sandboxes.fake import FakeSandboxAdapter, FakeSandboxContext, SandboxEnded


def _spec(tmp_path: Path, run_id: str = "run-1") -> SandboxSpec:
    return SandboxSpec(
        run_id=run_id,
        command=["python", "-m", "corral.runtime"],
        work_dir=tmp_path,
        socket_dir=tmp_path,
        read_only_paths=[],
        env={"CORRAL_SIDECAR_SOCKET": "/run/corral/sidecar.sock"},
        limits=ResourceLimits(memory_bytes=2**20, cpu_seconds=1, max_processes=1),
    )


async def test_the_body_runs_inside_and_its_return_is_the_exit_code(tmp_path: Path) -> None:
    seen: list[Path] = []

    async def runtime(context: FakeSandboxContext) -> int:
        seen.append(context.socket_path)
        context.write("hello from inside\n")
        return 3

    adapter = FakeSandboxAdapter(runtime)
    ended = await (await adapter.start(_spec(tmp_path))).wait()

    assert ended == SandboxExit(3, None, None, "hello from inside\n")
    assert seen == [tmp_path / "sidecar.sock"]
    assert [spec.run_id for spec in adapter.specs] == ["run-1"]


async def test_the_body_can_talk_to_a_server_on_the_socket_dir(tmp_path: Path) -> None:
    received: list[bytes] = []
    handled = asyncio.Event()

    async def sidecar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())
        writer.close()
        await writer.wait_closed()
        handled.set()

    async def runtime(context: FakeSandboxContext) -> int:
        _, writer = await asyncio.open_unix_connection(context.socket_path)
        writer.write(b"GET /corral/v1/assignment")
        writer.write_eof()
        writer.close()
        await writer.wait_closed()
        return 0

    server = await asyncio.start_unix_server(sidecar, path=str(tmp_path / "sidecar.sock"))
    async with server:
        ended = await (await FakeSandboxAdapter(runtime).start(_spec(tmp_path))).wait()
        await handled.wait()
    assert ended.exit_code == 0
    assert received == [b"GET /corral/v1/assignment"]


async def test_kill_cancels_the_body_and_reports_killed(tmp_path: Path) -> None:
    entered = asyncio.Event()

    async def forever(_context: FakeSandboxContext) -> int:
        entered.set()
        await asyncio.Event().wait()
        return 0

    adapter = FakeSandboxAdapter(forever)
    process = await adapter.start(_spec(tmp_path))
    await entered.wait()

    await process.kill()
    await process.kill()

    ended = await process.wait()
    assert (ended.reason, ended.signal, ended.exit_code) == ("killed", signal.SIGKILL, None)
    assert adapter.processes[0].killed
    assert not adapter.processes[0].running


async def test_a_body_can_end_with_a_scripted_limit_or_crash(tmp_path: Path) -> None:
    async def hog(_context: FakeSandboxContext) -> int:
        raise SandboxEnded(SandboxExit(None, signal.SIGKILL, "memory_limit", ""))

    async def crash(_context: FakeSandboxContext) -> int:
        raise ValueError("runtime bug")

    hogged = await (await FakeSandboxAdapter(hog).start(_spec(tmp_path))).wait()
    crashed = await (await FakeSandboxAdapter(crash).start(_spec(tmp_path))).wait()

    assert hogged.reason == "memory_limit"
    assert crashed.exit_code == 1
    assert "ValueError: runtime bug" in crashed.output_tail


def test_it_satisfies_the_adapter_interface() -> None:
    adapter: SandboxAdapter = FakeSandboxAdapter(unavailable_reason="scripted")
    assert adapter.available() == "scripted"
    assert adapter.name == "fake"
