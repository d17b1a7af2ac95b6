"""`corral worker`: run hosted runs in this process, beside any number of other workers.

Workers share nothing but the database: each claims queued runs (`FOR UPDATE SKIP LOCKED` on
PostgreSQL), keeps their leases, and recovers runs whose worker died. `corral serve` runs one
in its own process unless CORRAL_WORKER_IN_SERVER=false.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from corral.cli.runtime import StderrProxy, load_settings, open_container, run
from corral.core import logging as corral_logging
from corral.core.settings import Settings
from corral.run_stack import build_run_stack


async def _work(settings: Settings, stop_after: float | None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_container(settings) as container:
        container.ingest.start()
        stack = build_run_stack(container)
        await stack.start()
        typer.echo(
            f"Corral worker {stack.worker.worker_id} ready: adapter {stack.adapter.name}, "
            f"concurrency {settings.runs.worker_concurrency}, "
            f"warm slots {settings.runs.sidecar_pool_size}.",
            err=True,
        )
        try:
            if stop_after is None:
                await stop.wait()
            else:
                await asyncio.wait_for(stop.wait(), stop_after)
        except TimeoutError:
            pass
        finally:
            await stack.stop()


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Runs at once; overrides CORRAL_WORKER_CONCURRENCY."),
    ] = None,
    stop_after: Annotated[
        float | None,
        typer.Option(min=0, help="Stop after this many seconds (for scripts and tests)."),
    ] = None,
) -> None:
    """Execute queued runs until SIGTERM or Ctrl+C; running runs get a grace period."""
    settings = load_settings()
    corral_logging.configure(settings.log, stream=StderrProxy())
    if concurrency is not None:
        runs = settings.runs.model_copy(update={"worker_concurrency": concurrency})
        settings = settings.model_copy(update={"runs": runs})
    run(_work(settings, stop_after), settings)
