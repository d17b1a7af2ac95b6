"""`corral serve`: the HTTP server (API, dashboard, OTLP) on one port.

With `--workers N` (N > 1) uvicorn's supervisor runs N worker processes accepting on one shared
socket, each with its own app, database pool and ingest writer: CPU-bound work (OTLP decoding,
redaction, JSON) then uses more than one core. Background loops stay single-run because the
leader-only ones elect a leader across processes (PostgreSQL advisory lock or Redis lease).
SQLite has one writer at a time, so several processes would only queue on its lock; it is
refused there.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from corral.api.app import create_app
from corral.cli.runtime import EXIT_CONFIG, StderrProxy, fail, fail_config, load_settings
from corral.core import logging as corral_logging
from corral.core.errors import ConfigError
from corral.core.settings import Settings

# uvicorn's own convention when the application fails to start.
EXIT_STARTUP_FAILED = 3
_HANDLED = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _clean_exit_after_graceful_shutdown(server: uvicorn.Server) -> Iterator[None]:
    """Make a signal that uvicorn already turned into a graceful shutdown end with exit 0.

    Once shut down, uvicorn re-raises the signal that stopped it, which under the default
    handlers kills the process (SIGTERM) or raises KeyboardInterrupt (SIGINT). A signal that
    arrives before uvicorn listens still ends the process, with the shell's 128+N code.
    """

    def handler(signum: int, _: FrameType | None) -> None:
        if server.should_exit:
            return
        raise SystemExit(128 + signum)

    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
        sig: signal.signal(sig, handler) for sig in _HANDLED
    }
    try:
        yield
    finally:
        for sig, original in previous.items():
            signal.signal(sig, original)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on; overrides CORRAL_HOST.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on; overrides CORRAL_PORT."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes sharing the port (PostgreSQL only; SQLite needs 1).",
        ),
    ] = 1,
) -> None:
    """Run the server until SIGTERM or Ctrl+C, then shut down gracefully."""
    settings = load_settings()
    corral_logging.configure(settings.log, stream=StderrProxy())
    if workers > 1 and settings.effective_database_url.startswith("sqlite"):
        fail(
            "--workers > 1 needs PostgreSQL (CORRAL_DATABASE_URL): SQLite takes one writer at "
            "a time, so more processes would only wait on its lock",
            code=EXIT_CONFIG,
        )
    if workers > 1:
        _prepare_once(settings)
        # Each worker builds its own app from the same environment.
        _serve_workers(_config(WORKER_APP, settings, host, port, workers=workers))
        return
    try:
        app = create_app(settings)
    except ConfigError as exc:
        fail_config(exc)
    server = uvicorn.Server(_config(app, settings, host, port))
    with _clean_exit_after_graceful_shutdown(server):
        asyncio.run(server.serve())
    if not server.started:
        raise typer.Exit(EXIT_STARTUP_FAILED)


WORKER_APP = "corral.cli.serve:worker_app"


def worker_app() -> FastAPI:
    """The app of one `--workers` process: settings and logging as `serve` sets them up."""
    settings = load_settings()
    corral_logging.configure(settings.log, stream=StderrProxy())
    return create_app(settings)


def _prepare_once(settings: Settings) -> None:
    """Validate the settings, migrate and seed once, before any worker starts.

    Every worker runs the app's startup, and two of them migrating or seeding at the same time
    would race; the parent does both (with loops off) and tells the workers, through their
    environment, to skip them.
    """
    loops_off = settings.loops.model_copy(update={"enabled": False})
    try:
        app = create_app(settings.model_copy(update={"loops": loops_off}))
    except ConfigError as exc:
        fail_config(exc)

    async def startup() -> None:
        async with app.router.lifespan_context(app):
            pass

    asyncio.run(startup())
    os.environ["CORRAL_AUTO_MIGRATE"] = "false"
    os.environ["CORRAL_SEED_DEV"] = "false"


def _serve_workers(config: uvicorn.Config) -> None:
    sock = config.bind_socket()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()


def _config(
    app: FastAPI | str, settings: Settings, host: str | None, port: int | None, workers: int = 1
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=host or settings.host,
        port=port or settings.port,
        lifespan="on",
        # uvicorn takes whole seconds; rounding up never cuts the promised grace short.
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        proxy_headers=False,
        server_header=False,
        access_log=False,
        # Keep the structured logging configured above instead of uvicorn's own.
        log_config=None,
    )
