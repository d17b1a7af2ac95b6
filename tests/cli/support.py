"""Helpers for CLI tests: invoking the command in-process and checking results over HTTP."""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from fastapi import FastAPI
from typer.testing import CliRunner, Result

from corral.api.app import create_app
from corral.cli.main import app as cli_app
from tests.conftest import make_settings

T = TypeVar("T")

_SHOWN_ONCE = re.compile(r"^  (\S+)$", re.MULTILINE)


def cli(command: str, *, stdin: str | None = None, code: int = 0) -> Result:
    """Run `corral COMMAND` (split like a shell would) in-process and check its exit code."""
    args = shlex.split(command)
    result = CliRunner().invoke(cli_app, args, input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, (
        f"`corral {' '.join(args)}` exited {result.exit_code}, expected {code}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


def shown_once(output: str) -> str:
    """The secret a command printed on its own indented line (password or key)."""
    found = _SHOWN_ONCE.findall(output)
    assert len(found) == 1, output
    value: str = found[0]
    return value


def find_id(prefix: str, output: str) -> str:
    match = re.search(rf"\b{prefix}_[0-9a-z]{{26}}\b", output)
    assert match is not None, output
    return match.group(0)


def with_app(data_dir: Path, database_url: str, check: Callable[[FastAPI], Awaitable[T]]) -> T:
    """Run `check` against the real app on the same database, from synchronous test code."""

    async def main() -> T:
        app = create_app(make_settings(data_dir, database_url))
        async with app.router.lifespan_context(app):
            return await check(app)

    return asyncio.run(main())
