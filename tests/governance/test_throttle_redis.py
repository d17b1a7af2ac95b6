"""The Redis throttle store: the in-process store's semantics, shared and atomic across clients."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from corral.api.app import create_app
from corral.governance.throttle_redis import RedisThrottleStore
from corral_sdk.policy import Action, InMemoryThrottleStore, Policy, PolicySet
from tests.api.test_policies import create
from tests.clients import ApiClient, asgi_client
from tests.conftest import make_settings
from tests.services import redis_url

pytestmark = pytest.mark.redis


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix no other test uses, and its keys removed afterwards."""
    value = f"corral-test:throttle:{uuid.uuid4().hex}:"
    yield value
    client = redis.Redis.from_url(redis_url())
    keys = list(client.scan_iter(match=value + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def clients() -> Iterator[tuple[redis.Redis, redis.Redis]]:
    """Two clients, as two replicas hold."""
    first = redis.Redis.from_url(redis_url())
    second = redis.Redis.from_url(redis_url(), decode_responses=True)
    yield first, second
    first.close()
    second.close()


def test_same_semantics_as_the_in_process_store(
    clients: tuple[redis.Redis, redis.Redis], prefix: str
) -> None:
    shared = RedisThrottleStore(clients[0], key_prefix=prefix)
    local = InMemoryThrottleStore(clock=lambda: 0.0)
    for store in (shared, local):
        verdicts = [store.take("k", 3, 3600) for _ in range(4)]
        assert [v.admitted for v in verdicts] == [True, True, True, False]
        assert verdicts[0].retry_after_seconds is None
        # One token per 1200 s; the refused call waits for nearly all of it.
        retry = verdicts[3].retry_after_seconds
        assert retry is not None
        assert 1190 < retry <= 1200
        assert store.take("other key", 3, 3600).admitted


def test_two_clients_share_one_bucket(
    clients: tuple[redis.Redis, redis.Redis], prefix: str
) -> None:
    a = RedisThrottleStore(clients[0], key_prefix=prefix)
    b = RedisThrottleStore(clients[1], key_prefix=prefix)
    verdicts = [store.take("bucket", 5, 3600) for store in (a, b) * 4]
    assert sum(v.admitted for v in verdicts) == 5
    assert all(not v.admitted for v in verdicts[5:])


def test_parallel_takes_never_admit_more_than_the_bucket(prefix: str) -> None:
    stores = [
        RedisThrottleStore(redis.Redis.from_url(redis_url()), key_prefix=prefix) for _ in range(4)
    ]
    start = threading.Barrier(16)

    def takes(worker: int) -> int:
        store = stores[worker % len(stores)]
        start.wait()
        return sum(store.take("hot", 25, 3600).admitted for _ in range(20))

    with ThreadPoolExecutor(16) as pool:
        admitted = sum(pool.map(takes, range(16)))
    assert admitted == 25


def test_bucket_refills_and_idle_keys_expire(
    clients: tuple[redis.Redis, redis.Redis], prefix: str
) -> None:
    client = clients[0]
    store = RedisThrottleStore(client, key_prefix=prefix)
    assert store.take("fast", 1, 0.05).admitted
    refused = store.take("fast", 1, 0.05)
    assert not refused.admitted
    assert refused.retry_after_seconds is not None
    assert 0 < refused.retry_after_seconds <= 0.05
    for _ in range(500):
        time.sleep(refused.retry_after_seconds)
        if store.take("fast", 1, 0.05).admitted:
            break
    else:
        pytest.fail("the bucket never refilled")
    store.take("slow", 1, 3600)
    assert 3_600_000 < client.pttl(prefix + "slow") <= 3_601_000


def test_long_keys_are_hashed(clients: tuple[redis.Redis, redis.Redis], prefix: str) -> None:
    client = clients[0]
    store = RedisThrottleStore(client, key_prefix=prefix)
    long_key = "pol_x\x1fagent\x1f" + "a" * 5000
    assert store.take(long_key, 1, 60).admitted
    assert not store.take(long_key, 1, 60).admitted
    assert store.take(long_key[:-1] + "b", 1, 60).admitted
    keys = list(client.scan_iter(match=prefix + "sha256:*"))
    assert len(keys) == 2
    assert all(len(key) == len(prefix) + len("sha256:") + 64 for key in keys)


def _throttle_set(store: Any) -> PolicySet:
    throttle = Policy(
        id="pol_t",
        name="two calls",
        expression="true",
        action=Action.THROTTLE,
        action_config={"max_calls": 2, "window_seconds": 3600, "scope": "global"},
    )
    return PolicySet([throttle], throttle_store=store)


def test_policy_sets_of_two_replicas_share_the_bucket(
    clients: tuple[redis.Redis, redis.Redis], prefix: str
) -> None:
    first = _throttle_set(RedisThrottleStore(clients[0], key_prefix=prefix))
    second = _throttle_set(RedisThrottleStore(clients[1], key_prefix=prefix))
    actions = [s.decide("tool.x", {}).action for s in (first, second, first, second)]
    assert actions == [Action.ALLOW, Action.ALLOW, Action.THROTTLE, Action.THROTTLE]


def test_an_unreachable_redis_fails_closed() -> None:
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    decision = _throttle_set(RedisThrottleStore(down)).decide("tool.x", {})
    assert decision.action is Action.THROTTLE
    assert decision.message is not None
    assert "throttle store unavailable" in decision.message
    down.close()


@pytest.fixture
async def redis_servers(
    tmp_path: Path, database_url: str, prefix: str
) -> AsyncIterator[tuple[ApiClient, ApiClient, ApiClient]]:
    """Two servers on one database and one Redis, and a signed-in owner on the first."""
    url = redis_url()
    first = create_app(make_settings(tmp_path / "a", database_url, redis_url=url))
    second = create_app(make_settings(tmp_path / "b", database_url, redis_url=url))
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        asgi_client(first) as owner,
    ):
        await owner.register("throttle@example.com", org="Throttle")
        key = (await owner.create_key(["decisions:write"]))["key"]
        async with asgi_client(first, token=key) as a, asgi_client(second, token=key) as b:
            yield owner, a, b


async def test_server_throttles_are_shared_by_replicas(
    redis_servers: tuple[ApiClient, ApiClient, ApiClient],
) -> None:
    owner, a, b = redis_servers
    # A policy id never used before, so no earlier test's bucket can be in Redis.
    throttle = await create(
        owner,
        name="one per hour",
        action="throttle",
        expression="true",
        applies_to=["tool.*"],
        action_config={"max_calls": 3, "window_seconds": 3600, "scope": "global"},
    )
    body = {"name": "tool.x", "attributes": {}}
    answers = [(await client.post("/api/decisions", json=body)).json() for client in (a, b) * 3]
    assert [answer["action"] for answer in answers] == ["allow"] * 3 + ["throttle"] * 3
    assert all(answer["retry_after_seconds"] > 1000 for answer in answers[3:])
    client = redis.Redis.from_url(redis_url())
    keys = list(client.scan_iter(match=f"corral:throttle:{throttle['id']}*"))
    assert len(keys) == 1
    client.delete(*keys)
    client.close()
