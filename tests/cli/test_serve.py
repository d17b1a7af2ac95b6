"""`corral serve` as a real process: boots, answers /health, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.cli.conftest import CHEAP_ARGON2
from tests.conftest import TEST_SECRETS
from tests.services import postgres_url

# Generous: the interpreter and the app take a while to import on a loaded CI machine.
BOOT_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CHEAP_ARGON2, CORRAL_DATA_DIR=str(data_dir), **extra)
    return env


def _start(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    with (tmp_path / "stdout.log").open("wb") as out, (tmp_path / "stderr.log").open("wb") as err:
        # A fixed argv: this interpreter running the CLI under test.
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "corral.cli", "serve", *args],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=err,
        )


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, stderr: Path) -> dict[str, object]:
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode}:\n{stderr.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                body: dict[str, object] = json.loads(response.read())
                return body
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"no healthy /health within {BOOT_TIMEOUT_SECONDS}s:\n{stderr.read_text()}")


def test_serve_answers_health_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    env = _env(tmp_path / "data", **TEST_SECRETS)
    proc = _start(tmp_path, env, "--host", "127.0.0.1", "--port", str(port))
    try:
        health = _wait_healthy(proc, port, tmp_path / "stderr.log")
        assert health["status"] == "healthy"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (tmp_path / "stderr.log").read_text()
    assert code == 0, stderr
    assert "Application shutdown complete" in stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "data" / "corral.db").exists()


def test_serve_refuses_production_without_secrets(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", CORRAL_ENV="production")
    proc = _start(tmp_path, env, "--port", str(_free_port()))
    try:
        code = proc.wait(timeout=BOOT_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (tmp_path / "stderr.log").read_text()
    assert code == 2, stderr
    assert "CORRAL_SECRET_KEYS" in stderr
    assert "CORRAL_PASSWORD_PEPPER" in stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "stdout.log").read_text() == ""


def test_serve_refuses_workers_on_sqlite(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", **TEST_SECRETS)
    proc = _start(tmp_path, env, "--port", str(_free_port()), "--workers", "2")
    try:
        code = proc.wait(timeout=BOOT_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (tmp_path / "stderr.log").read_text()
    assert code == 2, stderr
    assert "--workers > 1 needs PostgreSQL" in stderr
    assert "Traceback" not in stderr


@pytest.fixture
def postgres_database_url() -> Iterator[str]:
    admin_url = postgres_url()
    name = f"corral_test_serve_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


@pytest.mark.postgres
def test_serve_workers_share_the_port_on_postgres(
    tmp_path: Path, postgres_database_url: str
) -> None:
    port = _free_port()
    # The dev seed and migrations would race if every worker ran them; the parent does.
    env = _env(
        tmp_path / "data",
        **TEST_SECRETS,
        CORRAL_DATABASE_URL=postgres_database_url,
        CORRAL_SEED_DEV="true",
        CORRAL_LOOPS_ENABLED="true",
    )
    proc = _start(tmp_path, env, "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    try:
        for _ in range(4):
            assert _wait_healthy(proc, port, tmp_path / "stderr.log")["status"] == "healthy"
        # The supervisor, and under it the two workers (multiprocessing adds a tracker).
        assert len(_children(proc.pid)) >= 2
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = (tmp_path / "stderr.log").read_text()
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert stderr.count("Application startup complete") == 2
