"""The app a benchmark serves with `python -m uvicorn --factory bench.server_app:app`.

Built like `corral serve` builds it: settings from the `CORRAL_*` environment the benchmark sets,
the same structured logging, then `create_app()`.
"""

from __future__ import annotations

from fastapi import FastAPI

from corral.api.app import create_app
from corral.core import logging as corral_logging
from corral.core.settings import get_settings


def app() -> FastAPI:
    settings = get_settings()
    corral_logging.configure(settings.log)
    return create_app(settings)
