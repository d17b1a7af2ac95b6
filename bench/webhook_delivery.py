"""Webhooks: the cost of queueing an event, and deliveries per second to a local receiver.

- `emit`: events queued with `corral.webhooks.outbox.emit` inside their own transaction (the
  cost every announced change pays), with 1 and with 5 subscribed endpoints.
- `deliver`: the delivery loop's pass (`WebhookSender.deliver_due`) sending every pending
  delivery, signed, through the egress guard, to a threaded HTTP receiver on loopback; prints
  deliveries per second and the p50/p99 of one attempt as recorded in the history.

    .venv/bin/python -m bench.webhook_delivery                      # SQLite, the default tier
    .venv/bin/python -m bench.webhook_delivery --database-url postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python -m bench.webhook_delivery --events 2000 --concurrency 8 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.api_read_throughput import _machine
from bench.budget_reserve import _database
from corral.core.crypto import EncryptionKeyring
from corral.core.db import create_engine, create_sessionmaker, transaction
from corral.core.ids import new_id
from corral.core.migrations import upgrade_to_head
from corral.core.settings import WebhookSettings
from corral.identity.models import Application, Organization
from corral.webhooks import secret_store
from corral.webhooks.models import WebhookAttempt, WebhookEndpoint
from corral.webhooks.outbox import emit
from corral.webhooks.sender import WebhookSender
from corral.webhooks.signing import new_secret


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Webhook emit cost and delivery rate.")
    parser.add_argument("--database-url", help="PostgreSQL admin URL (a scratch database is made)")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Every attempt is a new connection: the default backlog of 5 would drop SYNs under load.
    request_queue_size = 256


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


async def _endpoints(
    sessions: Any, keyring: EncryptionKeyring, org: str, app: str, url: str, count: int
) -> None:
    async with transaction(sessions) as session:
        for _ in range(count):
            endpoint = WebhookEndpoint(
                id=new_id("whk"), org_id=org, application_id=app, url=url, event_types=[]
            )
            endpoint.secret_ciphertext = secret_store.seal(keyring, endpoint, new_secret())
            session.add(endpoint)


async def _emit_rate(sessions: Any, org: str, app: str, events: int) -> float:
    started = time.perf_counter()
    for n in range(events):
        async with transaction(sessions) as session:
            await emit(
                session,
                org_id=org,
                application_id=app,
                event_type="run.succeeded",
                data={"run_id": f"run_{n}", "status": "succeeded"},
            )
    return events / (time.perf_counter() - started)


async def _run(args: argparse.Namespace, url: str, receiver_url: str) -> dict[str, Any]:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    sessions = create_sessionmaker(engine)
    keyring = EncryptionKeyring((("bench", b"\x01" * 32),))
    org, app = new_id("org"), new_id("app")
    async with transaction(sessions) as session:
        session.add(Organization(id=org, name="bench"))
        await session.flush()
        session.add(Application(id=app, org_id=org, name="bench", is_default=True))
    await _endpoints(sessions, keyring, org, app, receiver_url, 1)
    emit_one = await _emit_rate(sessions, org, app, args.events)
    await _endpoints(sessions, keyring, org, app, receiver_url, 4)
    emit_five = await _emit_rate(sessions, org, app, args.events // 5)
    settings = WebhookSettings(allow_private_targets=True, concurrency=args.concurrency)
    sender = WebhookSender(sessions, keyring, settings)
    started = time.perf_counter()
    delivered = await sender.deliver_due()
    elapsed = time.perf_counter() - started
    await sender.aclose()
    async with sessions() as session:
        latencies = sorted(await session.scalars(select(WebhookAttempt.latency_ms)))
        codes = set(await session.scalars(select(WebhookAttempt.status_code)))
    await engine.dispose()
    return {
        "emit_per_second_1_endpoint": round(emit_one),
        "emit_per_second_5_endpoints": round(emit_five),
        "deliveries": delivered,
        "deliveries_per_second": round(delivered / elapsed),
        "attempt_p50_ms": statistics.median(latencies),
        "attempt_p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "status_codes": sorted(c for c in codes if c is not None),
    }


def main() -> None:
    args = _parse_args()
    server = _Server(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with (
        tempfile.TemporaryDirectory() as scratch,
        _database(args.database_url, Path(scratch)) as (url, label),
    ):
        result = {
            "database": label,
            "concurrency": args.concurrency,
            "machine": _machine(),
            **asyncio.run(_run(args, url, receiver_url)),
        }
    server.shutdown()
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return
    for key, value in result.items():
        print(f"{key:>28}: {value}")


if __name__ == "__main__":
    main()
