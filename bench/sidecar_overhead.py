"""What the sidecar adds to a model call, against calling the same LLM server directly.

Two paths to the local OpenAI-compatible test server (`tests/support/openai_server.py`, run in
its own process so it does not share this one's GIL), with the same request body and the same
HTTP client setup (`httpx2.AsyncClient`, keep-alive, `trust_env=False`):

- **direct**: `POST {base_url}/chat/completions` with the provider key, over TCP.
- **through the sidecar**: the runtime's own client (`corral.runtime.sidecar_client.http_client`)
  over the unix socket to a real `Sidecar` (`corral.runs.sidecar.server`), whose
  `ProviderModelGateway` (built as `corral.run_stack` builds it) resolves the system provider,
  adds the key, forwards over its pooled HTTP client, meters tokens and cost and emits the
  `model_call` event. The event sink discards events: in a hosted run the executor's sink also
  commits each event to the database before the answer goes back (`bench.run_start` measures
  that step).

The sidecar and the client share this process's event loop (in a run they are two processes;
each call is sequential either way). The two paths alternate in blocks so that noise from
the machine hits both alike. Non-streaming and streaming (time to the last byte, and to the
first chunk).

    .venv/bin/python -m bench.sidecar_overhead
    .venv/bin/python -m bench.sidecar_overhead --calls 5000 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2
from tests.support.sidecar_runs import make_run

from bench.api_read_throughput import REPO_ROOT
from bench.runs_harness import machine, percentile, say
from corral.core.crypto import EncryptionKeyring
from corral.core.db import create_engine, create_sessionmaker
from corral.core.settings import SystemProvider
from corral.run_stack import PROVIDER_TIMEOUT
from corral.runs.sidecar.contracts import EventKind, SidecarRun, ToolOutcome
from corral.runs.sidecar.model_gateway import ProviderModelGateway
from corral.runs.sidecar.model_routing import RunModelGateway
from corral.runs.sidecar.server import Sidecar
from corral.runtime.sidecar_client import http_client as runtime_http_client
from corral.telemetry.cost import default_catalog

MODEL = "gpt-4o-mini"
KEY = "sk-bench-local-0123456789abcdef"
BODY: dict[str, Any] = {
    "model": MODEL,
    "messages": [
        {"role": "system", "content": "You route support tickets to a queue."},
        {"role": "user", "content": '{"ticket": "I was charged twice, please refund"}'},
    ],
    "temperature": 0,
}
BLOCK = 50


@dataclass
class Result:
    workload: str
    path: str
    calls: int
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    first_chunk_p50_ms: float | None
    # CPU of this process (client, and for the sidecar path the sidecar and its gateway) per
    # call: unlike wall time, it hardly depends on what else the machine runs.
    cpu_ms_per_call: float


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="The sidecar's overhead on a model call.")
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per path")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured calls per path")
    parser.add_argument("--no-stream", action="store_true", help="skip the streaming workload")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--serve-llm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not 10 <= args.calls <= 100_000 or not 0 <= args.warmup <= 10_000:
        parser.error("--calls must be in [10, 100000] and --warmup in [0, 10000]")
    return args


def _serve_llm() -> None:
    """The child process: serve the test LLM until stdin closes."""
    from tests.support.openai_server import serve_llm

    with serve_llm() as server:
        print(server.base_url, flush=True)
        sys.stdin.read()


class _LLMProcess:
    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> _LLMProcess:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.sidecar_overhead", "--serve-llm"],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http://"):
            raise SystemExit("the LLM test server did not start")
        return self

    def __exit__(self, *_: object) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(10)


class _DiscardingSink:
    events = 0

    async def emit(self, kind: EventKind, data: Mapping[str, Any]) -> None:
        del kind, data
        self.events += 1


class _NoTools:
    async def call(
        self, run: SidecarRun, tool: str, arguments: dict[str, Any], sink: Any
    ) -> ToolOutcome:
        del run, tool, arguments, sink
        raise RuntimeError("no tools in this benchmark")


Call = Callable[[], Awaitable[tuple[float, float | None]]]


def _caller(http: httpx2.AsyncClient, url: str, headers: dict[str, str], stream: bool) -> Call:
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}} if stream else BODY

    async def call() -> tuple[float, float | None]:
        began = time.perf_counter()
        if not stream:
            response = await http.post(url, json=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}: {response.text[:300]}")
            response.json()
            return time.perf_counter() - began, None
        first: float | None = None
        async with http.stream("POST", url, json=body, headers=headers) as response:
            if response.status_code != 200:
                raise RuntimeError(f"{url}: HTTP {response.status_code}")
            async for _ in response.aiter_bytes():
                if first is None:
                    first = time.perf_counter() - began
        return time.perf_counter() - began, first

    return call


async def _alternate(
    paths: dict[str, Call], calls: int, warmup: int
) -> tuple[dict[str, list[tuple[float, float | None]]], dict[str, float]]:
    for call in paths.values():
        for _ in range(warmup):
            await call()
    timings: dict[str, list[tuple[float, float | None]]] = {name: [] for name in paths}
    cpu = dict.fromkeys(paths, 0.0)
    while any(len(found) < calls for found in timings.values()):
        for name, call in paths.items():
            began = time.process_time()
            for _ in range(min(BLOCK, calls - len(timings[name]))):
                timings[name].append(await call())
            cpu[name] += time.process_time() - began
    return timings, cpu


def _result(
    workload: str, path: str, found: list[tuple[float, float | None]], cpu_seconds: float
) -> Result:
    totals = [t * 1000 for t, _ in found]
    firsts = [f * 1000 for _, f in found if f is not None]

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return Result(
        workload=workload,
        path=path,
        calls=len(found),
        p50_ms=r(percentile(totals, 50)),
        p90_ms=r(percentile(totals, 90)),
        p99_ms=r(percentile(totals, 99)),
        first_chunk_p50_ms=r(percentile(firsts, 50)),
        cpu_ms_per_call=round(cpu_seconds * 1000 / len(found), 3),
    )


async def _run(args: argparse.Namespace, llm_url: str, scratch: Path) -> list[Result]:
    provider = SystemProvider.model_validate(
        {
            "id": "local",
            "api": "openai-chat",
            "base_url": llm_url,
            "api_key": KEY,
            "models": [MODEL],
        }
    )
    # System providers never touch the database: an engine that is never connected.
    engine = create_engine(f"sqlite+aiosqlite:///{scratch / 'unused.db'}")
    keyring = EncryptionKeyring((("k1", b"\x01" * 32),))
    provider_http = httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT, trust_env=False)
    gateway = RunModelGateway(
        ProviderModelGateway(
            [provider], create_sessionmaker(engine), keyring, default_catalog(), provider_http
        )
    )
    sink = _DiscardingSink()
    results: list[Result] = []
    socket_dir = scratch / "sock"
    try:
        async with (
            Sidecar(socket_dir, gateway, _NoTools()) as sidecar,
            runtime_http_client(str(sidecar.socket_path)) as through,
            httpx2.AsyncClient(timeout=PROVIDER_TIMEOUT, trust_env=False) as direct,
        ):
            sidecar.assign(make_run("local", MODEL), sink)
            workloads = [("non-streaming", False)] + (
                [] if args.no_stream else [("streaming", True)]
            )
            for workload, stream in workloads:
                say(f"{workload}: {args.warmup} + {args.calls} calls per path, alternating")
                paths = {
                    "direct": _caller(
                        direct,
                        f"{llm_url}/chat/completions",
                        {"Authorization": f"Bearer {KEY}"},
                        stream,
                    ),
                    "through the sidecar": _caller(through, "/v1/chat/completions", {}, stream),
                }
                timings, cpu = await _alternate(paths, args.calls, args.warmup)
                results.extend(
                    _result(workload, name, found, cpu[name]) for name, found in timings.items()
                )
    finally:
        await provider_http.aclose()
        await engine.dispose()
    expected = (args.calls + args.warmup) * (1 if args.no_stream else 2)
    if sink.events != expected:
        raise RuntimeError(f"the sidecar metered {sink.events} calls, expected {expected}")
    return results


def _print_table(report: dict[str, Any]) -> None:
    found = report["machine"]
    print(
        f"machine: {found['cores']} cores ({found['cpu'] or 'unknown CPU'}), "
        f"Python {found['python']}, load average before {found['load_average']}, "
        f"after {report['load_average_after']}"
    )
    header = (
        f"{'workload':<14} {'path':<20} {'calls':>6} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'1st chunk p50':>14} {'CPU ms/call':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        print(
            f"{r['workload']:<14} {r['path']:<20} {r['calls']:>6} {r['p50_ms']!s:>8} "
            f"{r['p90_ms']!s:>8} {r['p99_ms']!s:>8} {r['first_chunk_p50_ms']!s:>14} "
            f"{r['cpu_ms_per_call']:>12}"
        )
    for workload, added in report["added_p50_ms"].items():
        cpu = report["added_cpu_ms_per_call"][workload]
        print(f"added by the sidecar, {workload}: {added} ms at p50, {cpu} ms of CPU per call")


def main() -> None:
    args = _parse_args()
    if args.serve_llm:
        _serve_llm()
        return
    before = machine()
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-sidecar-") as scratch,
        _LLMProcess() as llm,
    ):
        results = asyncio.run(_run(args, llm.base_url, Path(scratch)))
    added: dict[str, float] = {}
    added_cpu: dict[str, float] = {}
    for workload in {r.workload for r in results}:
        by_path = {r.path: r for r in results if r.workload == workload}
        direct, through = by_path["direct"], by_path["through the sidecar"]
        if direct.p50_ms is not None and through.p50_ms is not None:
            added[workload] = round(through.p50_ms - direct.p50_ms, 3)
        added_cpu[workload] = round(through.cpu_ms_per_call - direct.cpu_ms_per_call, 3)
    report = {
        "machine": before,
        "load_average_after": machine()["load_average"],
        "results": [asdict(r) for r in results],
        "added_p50_ms": dict(sorted(added.items())),
        "added_cpu_ms_per_call": dict(sorted(added_cpu.items())),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)


if __name__ == "__main__":
    main()
