"""Where the real PostgreSQL and Redis used by the tests live.

`CORRAL_TEST_POSTGRES_URL` / `CORRAL_TEST_REDIS_URL` name them. When one is unset its tests are
skipped, except under `CI=true`, where a missing service is a failure.
"""

from __future__ import annotations

import os

import pytest


def _required(variable: str, what: str) -> str:
    url = os.environ.get(variable)
    if url:
        return url
    if os.environ.get("CI") == "true":
        pytest.fail(f"{variable} is not set: CI must test against a real {what}")
    pytest.skip(f"{variable} not set; {what} tests skipped")


def postgres_url() -> str:
    """A libpq URL of a PostgreSQL server where the tests may create databases."""
    return _required("CORRAL_TEST_POSTGRES_URL", "PostgreSQL")


def redis_url() -> str:
    return _required("CORRAL_TEST_REDIS_URL", "Redis")
