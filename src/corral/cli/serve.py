"""`corral serve`: the HTTP server (API, dashboard, OTLP) on one port."""

from __future__ import annotations

import asyncio
import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated, Any

import typer
import uvicorn

from corral.api.app import create_app
from corral.cli.runtime import StderrProxy, fail_config, load_settings
from corral.core import logging as corral_logging
from corral.core.errors import ConfigError

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
) -> None:
    """Run the server until SIGTERM or Ctrl+C, then shut down gracefully."""
    settings = load_settings()
    corral_logging.configure(settings.log, stream=StderrProxy())
    try:
        app = create_app(settings)
    except ConfigError as exc:
        fail_config(exc)
    config = uvicorn.Config(
        app,
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
    server = uvicorn.Server(config)
    with _clean_exit_after_graceful_shutdown(server):
        asyncio.run(server.serve())
    if not server.started:
        raise typer.Exit(EXIT_STARTUP_FAILED)
