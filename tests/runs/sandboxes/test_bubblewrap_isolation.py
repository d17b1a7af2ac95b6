"""Proofs that a bubblewrap sandbox has no network, no secrets and no writable system."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import corral
from corral.runs.launch import RUNTIME_ROOT_MOUNT
from corral.runs.sandboxes.base import SANDBOX_WORK_DIR
from corral.runs.sandboxes.bubblewrap import BubblewrapAdapter
from tests.runs.sandboxes.conftest import Dirs, python_spec, run_python

CONNECT = """
import json, socket
results = {}
for host, port in %r:
    try:
        socket.create_connection((host, port), timeout=3).close()
        results[f"{host}:{port}"] = "connected"
    except OSError as exc:
        results[f"{host}:{port}"] = type(exc).__name__
print(json.dumps({"connections": results, "interfaces": [n for _, n in socket.if_nameindex()]}))
"""


def _outward_address() -> str | None:
    """This host's address on its default route (no packet is sent)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))
        address: str = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on every interface of the host: reachable from anywhere but the sandbox."""
    server = socket.create_server(("0.0.0.0", 0))  # noqa: S104 (the point: listen everywhere)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


async def test_no_tcp_connection_leaves_the_sandbox(
    bubblewrap: BubblewrapAdapter, dirs: Dirs, listener: int
) -> None:
    targets: list[tuple[str, int]] = [("127.0.0.1", listener), ("127.0.0.1", 5432)]
    outward = _outward_address()
    if outward is not None:
        targets.append((outward, listener))
    for host, port in targets[:1] + targets[2:]:
        socket.create_connection((host, port), timeout=3).close()  # reachable from the host

    ended, seen = await run_python(bubblewrap, dirs, CONNECT % (targets,))

    assert ended.exit_code == 0
    assert set(seen["connections"].values()) <= {"ConnectionRefusedError", "OSError"}
    assert "connected" not in seen["connections"].values()
    assert seen["interfaces"] == ["lo"]


@pytest.fixture
def home_secret() -> Iterator[Path]:
    path = Path.home() / f".corral-sandbox-proof-{secrets.token_hex(6)}"
    path.write_text("home-secret-value")
    try:
        yield path
    finally:
        path.unlink()


@pytest.fixture
def corral_database(tmp_path: Path) -> Path:
    path = tmp_path / "project" / "data" / "corral.db"
    path.parent.mkdir(parents=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE secrets (value TEXT)")
        db.execute("INSERT INTO secrets VALUES ('database-secret-value')")
        db.commit()
    return path


READ_FILES = """
import json, sys
results = {}
for path in %r:
    try:
        with open(path, "rb") as handle:
            handle.read()
        results[path] = "read"
    except OSError as exc:
        results[path] = type(exc).__name__
print(json.dumps(results))
"""


async def test_home_directory_source_tree_and_database_are_unreadable(
    bubblewrap: BubblewrapAdapter, dirs: Dirs, home_secret: Path, corral_database: Path
) -> None:
    source = Path(corral.__file__)
    paths = [str(home_secret), str(corral_database), str(source), "/etc/shadow", "/etc/passwd"]

    ended, seen = await run_python(bubblewrap, dirs, READ_FILES % (paths,))

    assert ended.exit_code == 0, ended.output_tail
    assert seen == dict.fromkeys(paths, "FileNotFoundError")
    assert "home-secret-value" not in ended.output_tail


async def test_the_environment_is_exactly_the_given_one(
    bubblewrap: BubblewrapAdapter, dirs: Dirs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_PROOF_FAKE_SECRET", "parent-secret-value")
    given = {"PATH": "/usr/bin:/bin", "ONLY_KEY": "value"}
    code = "import json, os; print(json.dumps(dict(os.environ)))"

    spec_env = {**python_spec(dirs, code).env, **given}
    ended, seen = await run_python(bubblewrap, dirs, code, env=spec_env)

    assert ended.exit_code == 0
    assert seen == spec_env
    assert "parent-secret-value" not in ended.output_tail


WRITES = """
import errno, json, os
results = {}
for path in ["/usr/corral-proof", "/corral-proof", "/etc/corral-proof", "/run/corral/x",
             "/tmp/%(name)s", "/work/%(name)s"]:
    try:
        with open(path, "w") as handle:
            handle.write("x")
        results[path] = "written"
    except OSError as exc:
        results[path] = errno.errorcode[exc.errno]
print(json.dumps({"writes": results, "uid": os.getuid(), "gid": os.getgid(),
                  "caps": [l for l in open("/proc/self/status") if l.startswith("CapEff")]}))
"""


def _host_files(dirs: Dirs, name: str) -> dict[str, bool]:
    return {
        "host /tmp": Path("/tmp", name).exists(),
        "work dir": (dirs.work / name).read_text() == "x",
        "socket dir": any(dirs.socket.iterdir()),
    }


async def test_only_the_work_dir_and_a_private_tmp_are_writable(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    name = f"corral-proof-{secrets.token_hex(6)}"

    ended, seen = await run_python(bubblewrap, dirs, WRITES % {"name": name})

    assert ended.exit_code == 0, ended.output_tail
    writes = seen["writes"]
    assert writes.pop(f"/tmp/{name}") == "written"
    assert writes.pop(f"{SANDBOX_WORK_DIR}/{name}") == "written"
    # Read-only where something is mounted; nothing to create files in elsewhere.
    assert set(writes.values()) <= {"EROFS", "EACCES", "ENOENT"}, writes
    assert _host_files(dirs, name) == {"host /tmp": False, "work dir": True, "socket dir": False}
    assert (seen["uid"], seen["gid"]) == (65534, 65534)
    assert seen["caps"] == ["CapEff:\t0000000000000000\n"]
    assert os.getuid() == 0 or seen["uid"] != os.getuid()


IMPORTS = """
import importlib.util, json, sys
import corral, corral.runtime
print(json.dumps({
    "corral": corral.__file__,
    "agents": importlib.util.find_spec("corral.agents") is not None,
    "runs": importlib.util.find_spec("corral.runs") is not None,
    "pydantic_ai": importlib.util.find_spec("pydantic_ai") is not None,
    "path": sys.path,
}))
"""


async def test_inside_only_the_runtime_of_corral_is_importable(
    bubblewrap: BubblewrapAdapter, dirs: Dirs
) -> None:
    ended, seen = await run_python(bubblewrap, dirs, IMPORTS)

    assert ended.exit_code == 0, ended.output_tail
    assert seen["corral"] == f"{RUNTIME_ROOT_MOUNT}/corral/__init__.py"
    assert (seen["agents"], seen["runs"]) == (False, False)
    assert seen["pydantic_ai"] is True
    # The mounts on PYTHONPATH, then the stdlib: neither the work dir nor the source tree.
    stdlib = [e for e in seen["path"] if e.startswith(sys.base_prefix)]
    assert seen["path"] == [*python_spec(dirs, "").env["PYTHONPATH"].split(":"), *stdlib]
