"""The sidecar: one per run, serving the sandbox over a unix socket.

The socket lives alone in `socket_dir`, which the sandbox mounts (at /run/corral). The sandbox may
run as another uid, so the directory is 0o711 (enter, not list) and the socket 0o666; whoever
creates the sidecar keeps `socket_dir` inside a private per-run directory.

Serving uses uvicorn's httptools protocol directly on an asyncio unix server: no uvicorn `Server`,
whose tick loop, signal capture and logging setup belong to a whole process, not to one of many
sidecars inside a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from corral.runs.sidecar.contracts import EventSink, ModelGateway, SidecarRun, ToolGateway
from corral.runs.sidecar.endpoints import AssignmentSlot, SidecarApp

SOCKET_NAME = "sidecar.sock"
SOCKET_DIR_MODE = 0o711
SOCKET_MODE = 0o666
# sockaddr_un's path field, less the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107
# One client, which keeps its connections open between model calls that may be minutes apart.
_KEEP_ALIVE_SECONDS = 24 * 3600
# Enough for woken polls to answer; model and tool calls still running then are cancelled.
CLOSE_GRACE_SECONDS = 0.2


class Sidecar:
    def __init__(
        self, socket_dir: Path, model_gateway: ModelGateway, tool_gateway: ToolGateway
    ) -> None:
        self.socket_dir = socket_dir
        self.socket_path = socket_dir / SOCKET_NAME
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH_BYTES:
            raise ValueError(f"the socket path {self.socket_path} is too long for a unix socket")
        self._slot = AssignmentSlot()
        self._app = SidecarApp(self._slot, model_gateway, tool_gateway)
        self._state = ServerState()
        self._server: asyncio.Server | None = None

    @property
    def assigned(self) -> bool:
        return self._slot.current is not None

    async def wait_runtime_ready(self) -> None:
        """Returns once a runtime, its imports done, is polling for the assignment."""
        await self._slot.polled.wait()

    async def start(self) -> None:
        """Binds the socket and serves; the runtime may connect from now on."""
        if self._server is not None:
            raise RuntimeError("the sidecar is already serving")
        config = uvicorn.Config(
            self._app,
            http=HttpToolsProtocol,
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            timeout_keep_alive=_KEEP_ALIVE_SECONDS,
        )
        config.load()
        listener = _bind(self.socket_dir, self.socket_path)
        state = self._state

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=state, app_state={}
            )

        try:
            self._server = await asyncio.get_running_loop().create_unix_server(
                protocol, sock=listener
            )
        except BaseException:
            listener.close()
            self.socket_path.unlink(missing_ok=True)
            raise

    def assign(self, run: SidecarRun, sink: EventSink) -> None:
        """Gives the sidecar its run; a runtime already polling for it gets it now."""
        self._slot.fill(run, sink)

    async def close(self, grace_seconds: float = CLOSE_GRACE_SECONDS) -> None:
        """Stops serving, ends in-flight requests and removes the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._slot.close()
        for connection in list(self._state.connections):
            connection.shutdown()
        await self._app.end_inflight(grace_seconds)
        # What remains is the server writing the last answers out.
        tasks = list(self._state.tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
        for connection in list(self._state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        self.socket_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.socket_dir.rmdir()

    async def __aenter__(self) -> Sidecar:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _bind(socket_dir: Path, socket_path: Path) -> socket.socket:
    socket_dir.mkdir(mode=SOCKET_DIR_MODE, parents=False, exist_ok=True)
    # mkdir's mode is filtered by the umask; the sandbox's uid needs the execute bit.
    os.chmod(socket_dir, SOCKET_DIR_MODE)
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(socket_path).st_mode):
            socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(os.fspath(socket_path))
        os.chmod(socket_path, SOCKET_MODE)
        listener.listen(128)
        listener.setblocking(False)
    except BaseException:
        listener.close()
        raise
    return listener
