"""CPU accounting for the ingest benchmark, from /proc (Linux): the server's process tree, this
run's PostgreSQL processes, and the whole machine."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree_cpu_seconds(root: int) -> float | None:
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None:
            continue
        # proc(5) fields 4 (ppid), 14 (utime) and 15 (stime), counted after the command name.
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    if root not in cpu:
        return None
    total = 0.0
    for pid in cpu:
        ancestor = pid
        while ancestor not in (root, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor == root:
            total += cpu[pid]
    return total


def _process_cpu_seconds(pid: int) -> float | None:
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PostgresCpu:
    """CPU used by this run's PostgreSQL processes: the backends connected to the benchmark's
    database and the server's background processes (WAL writer, checkpointer…), per process,
    so that other databases' backends coming and going on a shared server do not count."""

    def __init__(self, database_url: str | None) -> None:
        self._url = database_url
        self._start: dict[int, float] = {}

    def _pids(self) -> list[int]:
        assert self._url is not None
        with psycopg.connect(self._url, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "OR datname IS NULL"
            ).fetchall()
        return [int(pid) for (pid,) in rows]

    def start(self) -> None:
        if self._url is not None:
            self._start = {
                pid: cpu for pid in self._pids() if (cpu := _process_cpu_seconds(pid)) is not None
            }

    def seconds(self) -> float:
        if self._url is None:
            return 0.0
        total = 0.0
        for pid in self._pids():
            cpu = _process_cpu_seconds(pid)
            if cpu is not None:
                total += cpu - self._start.get(pid, 0.0)
        return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))
