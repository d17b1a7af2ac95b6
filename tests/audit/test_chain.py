"""The chain in the database: appends, append-only triggers, tampering found, key rotation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.api.app import create_app
from corral.audit import service as audit
from corral.audit.anchors import anchor_pending
from corral.audit.chain import GENESIS_HASH
from corral.audit.models import AuditChainHead, AuditEvent
from corral.audit.verify import ChainReport, verify_chain
from corral.container import Container
from corral.core.db import transaction
from corral.core.request_context import Actor
from corral.identity.access import run_scope
from tests.audit import tamper
from tests.conftest import TEST_SECRETS, make_settings

APP = "app_0000000000000000000000test"
ORG = "org_0000000000000000000000test"
ACTOR = Actor("user", "usr_auditor", "req-1", "203.0.113.7", "pytest-agent/1.0")


def container_of(app: FastAPI) -> Container:
    container: Container = app.state.container
    return container


async def append(container: Container, count: int, *, chain: str = APP) -> None:
    for i in range(count):
        async with transaction(container.sessions) as session:
            audit.record(
                session,
                ACTOR,
                "policy.updated",
                target_type="policy",
                target_id=f"pol_{i}",
                org_id=ORG,
                application_id=chain,
                before={"name": "old", "api_key": "crl_secret"},
                after={"name": f"new {i}", "nested": {"password": "hunter2"}},
            )


async def verify(
    container: Container,
    chain: str = APP,
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
) -> ChainReport:
    async with container.sessions() as session:
        return await verify_chain(
            session,
            container.audit_keys,
            chain,
            from_seq=from_seq,
            to_seq=to_seq,
            anchor_key=container.anchor_signer.public_key,
        )


async def events(container: Container, chain: str = APP) -> list[AuditEvent]:
    async with container.sessions() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.chain_id == chain).order_by(AuditEvent.seq)
        )
        return list(rows)


async def test_appends_number_and_link_each_chain(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 3)
    await append(container, 2, chain="app_0000000000000000000000othr")
    rows = await events(container)
    assert [e.seq for e in rows] == [1, 2, 3]
    assert rows[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in rows[1:]] == [e.row_hash for e in rows[:-1]]
    assert {e.key_id for e in rows} == {container.audit_keys.active_id}
    first = rows[0]
    assert (first.actor_type, first.actor_id, first.user_agent) == (
        "user",
        "usr_auditor",
        "pytest-agent/1.0",
    )
    assert first.before == {"name": "old", "api_key": "[REDACTED]"}
    assert first.after == {"name": "new 0", "nested": {"password": "[REDACTED]"}}
    assert first.outcome == "success"
    report = await verify(container)
    assert (report.ok, report.events_checked, report.head_seq) == (True, 3, 3)
    other = await verify(container, "app_0000000000000000000000othr")
    assert (other.ok, other.events_checked) == (True, 2)


async def test_org_and_system_events_have_chains_of_their_own(app: FastAPI) -> None:
    container = container_of(app)
    async with transaction(container.sessions) as session:
        audit.record(
            session, ACTOR, "org.updated", target_type="organization", target_id=ORG, org_id=ORG
        )
        audit.record(
            session,
            Actor.system(),
            "system.started",
            target_type="system",
            target_id=None,
            org_id=None,
        )
    assert [e.seq for e in await events(container, ORG)] == [1]
    assert [e.seq for e in await events(container, "system")] == [1]


async def test_a_rolled_back_change_leaves_no_event_and_no_gap(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 1)

    async def failing_change() -> None:
        async with transaction(container.sessions) as session:
            audit.record(
                session,
                ACTOR,
                "policy.created",
                target_type="policy",
                target_id=None,
                org_id=ORG,
                application_id=APP,
            )
            await session.flush()
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await failing_change()
    await append(container, 1)
    assert [e.seq for e in await events(container)] == [1, 2]
    assert (await verify(container)).ok


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"]
)
async def test_the_database_refuses_to_change_events(
    app: FastAPI, database_url: str, statement: str
) -> None:
    container = container_of(app)
    await append(container, 2)
    with pytest.raises(Exception, match="append-only"):
        tamper.raw_execute(database_url, statement)
    assert [e.action for e in await events(container)] == ["policy.updated"] * 2


async def test_the_database_refuses_to_change_anchors(app: FastAPI, database_url: str) -> None:
    container = container_of(app)
    await append(container, 2)
    assert await anchor_pending(container.sessions, container.anchor_signer, max_events=100) == 1
    for statement in ("UPDATE audit_anchors SET root_hash = 'x'", "DELETE FROM audit_anchors"):
        with pytest.raises(Exception, match="append-only"):
            tamper.raw_execute(database_url, statement)


async def test_postgresql_refuses_truncate(app: FastAPI, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite has no TRUNCATE")
    await append(container_of(app), 1)
    for table in ("audit_events", "audit_anchors"):
        with pytest.raises(Exception, match="append-only"):
            tamper.raw_execute(database_url, f"TRUNCATE {table}")


async def _tampered(app: FastAPI, database_url: str, *statements: tamper.Statement) -> ChainReport:
    tamper.tamper(database_url, *statements)
    return await verify(container_of(app))


async def test_a_changed_event_is_found(app: FastAPI, database_url: str) -> None:
    await append(container_of(app), 5)
    report = await _tampered(app, database_url, tamper.modify(APP, 3))
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 3, "row_hash_mismatch")
    assert report.events_checked == 2


async def test_a_deleted_event_is_found(app: FastAPI, database_url: str) -> None:
    await append(container_of(app), 5)
    report = await _tampered(app, database_url, tamper.delete(APP, 3))
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 3, "missing_event")


async def test_a_cut_off_end_is_found(app: FastAPI, database_url: str) -> None:
    await append(container_of(app), 5)
    report = await _tampered(app, database_url, tamper.delete(APP, 5), tamper.delete(APP, 4))
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 4, "missing_event")


async def test_reordered_events_are_found(app: FastAPI, database_url: str) -> None:
    await append(container_of(app), 5)
    report = await _tampered(app, database_url, *tamper.swap(APP, 3))
    assert (report.ok, report.first_bad_seq) == (False, 3)
    assert report.reason in {"prev_hash_mismatch", "row_hash_mismatch"}


async def test_a_forged_event_is_found(app: FastAPI, database_url: str) -> None:
    container = container_of(app)
    await append(container, 5)
    last = (await events(container))[-1]
    forged = tamper.forge_next(APP, 5, last.row_hash, container.audit_keys.active_id)
    report = await _tampered(app, database_url, *forged)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 6, "row_hash_mismatch")


async def test_a_range_is_verified_against_its_predecessor(app: FastAPI, database_url: str) -> None:
    container = container_of(app)
    await append(container, 6)
    tamper.tamper(database_url, tamper.modify(APP, 2))
    later = await verify(container, from_seq=3, to_seq=6)
    assert (later.ok, later.events_checked, later.first_seq, later.last_seq) == (True, 4, 3, 6)
    assert (await verify(container, from_seq=1, to_seq=2)).first_bad_seq == 2


async def test_verification_walks_in_batches(app: FastAPI) -> None:
    container = container_of(app)
    await append(container, 7)
    async with container.sessions() as session:
        report = await verify_chain(session, container.audit_keys, APP, batch_size=2)
    assert (report.ok, report.events_checked) == (True, 7)


@pytest.fixture
async def rotated_app(tmp_path: Path, database_url: str) -> AsyncIterator[FastAPI]:
    """The same database served with a new audit key put first; the old one still listed."""
    old = TEST_SECRETS["CORRAL_AUDIT_HMAC_KEYS"]
    keys = f"rotated:{'n' * 40},{old}"
    application = create_app(
        make_settings(tmp_path / "rotated", database_url, security={"audit_hmac_keys": keys})
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_rows_signed_by_an_old_key_verify_after_rotation(
    app: FastAPI, rotated_app: FastAPI
) -> None:
    await append(container_of(app), 2)
    rotated = container_of(rotated_app)
    await append(rotated, 2)
    rows = await events(rotated)
    old_id = container_of(app).audit_keys.active_id
    assert [e.key_id for e in rows] == [old_id, old_id, "rotated", "rotated"]
    assert (await verify(rotated)).ok
    # Without the old key, its rows cannot be checked: that is reported, not passed.
    report = await verify(container_of(app))
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 3, "unknown_key")


async def test_concurrent_transactions_never_fork_the_chain(app: FastAPI) -> None:
    container = container_of(app)

    async def writer(n: int) -> None:
        async with transaction(container.sessions) as session:
            for i in range(3):
                audit.record(
                    session,
                    ACTOR,
                    "policy.updated",
                    target_type="policy",
                    target_id=f"pol_{n}_{i}",
                    org_id=ORG,
                    application_id=APP,
                )
            await session.flush()
            # Hold the chain while others wait for it.
            await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in range(16)))
    rows = await events(container)
    assert [e.seq for e in rows] == list(range(1, 49))
    async with container.sessions() as session:
        head = await session.get(AuditChainHead, APP)
    assert head is not None
    assert head.seq == 48
    assert (await verify(container)).ok


async def test_transactions_open_together_append_one_after_another_on_postgresql(
    app: FastAPI, database_url: str
) -> None:
    """All writers start their transaction first, then all append at once: none may fork."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite writers hold the write lock from BEGIN: they cannot overlap")
    container = container_of(app)
    writers = 16
    started = 0
    all_started = asyncio.Event()

    async def writer(n: int) -> None:
        nonlocal started
        async with transaction(container.sessions) as session:
            await session.execute(select(AuditEvent.id).limit(1))
            started += 1
            if started == writers:
                all_started.set()
            await all_started.wait()
            for i in range(5):
                audit.record(
                    session,
                    ACTOR,
                    "policy.updated",
                    target_type="policy",
                    target_id=f"pol_{n}_{i}",
                    org_id=ORG,
                    application_id=APP,
                )

    await asyncio.gather(*(writer(n) for n in range(writers)))
    rows = await events(container)
    assert [e.seq for e in rows] == list(range(1, writers * 5 + 1))
    # Each transaction's events are consecutive: the head stays locked until its commit.
    by_writer = [e.target_id.split("_")[1] for e in rows if e.target_id]
    assert all(len(set(by_writer[i : i + 5])) == 1 for i in range(0, len(by_writer), 5))
    assert (await verify(container)).ok


async def test_a_change_on_behalf_of_an_end_user_names_both(app: FastAPI) -> None:
    container = container_of(app)
    scope = run_scope(
        run_id="run_0000000000000000000000test",
        org_id=ORG,
        application_id=APP,
        end_user_id="eu_00000000000000000000000test",
        permissions=frozenset(),
    )
    async with transaction(container.sessions) as session:
        audit.record_in_application(
            session, scope, "run.cancelled", target_type="run", target_id=None, details={"a": 1}
        )
    [event] = await events(container)
    assert (event.actor_type, event.actor_id) == ("run", "run_0000000000000000000000test")
    assert event.details == {"a": 1, "on_behalf_of_end_user": "eu_00000000000000000000000test"}
