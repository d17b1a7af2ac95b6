"""A `ThrottleStore` in Redis, so that every replica shares one token bucket per throttle key.

Same semantics as `corral_sdk.policy.InMemoryThrottleStore`: a bucket holds at most `max_calls`
tokens, starts full, refills at `max_calls / window_seconds` tokens per second, and each
admitted call takes one token; a refused call learns when the next token is due. It is the
rate limiter's bucket script (`corral.core.token_bucket`), with rate `max_calls / window_seconds`
and burst `max_calls`.

`take` is synchronous because `PolicySet.decide` is; the decision API calls it from a worker
thread (see `corral.governance.decisions`). A failing Redis raises, and the policy set then
fails closed: the call is throttled and the message names the error.
"""

from __future__ import annotations

import hashlib
import math

import redis

from corral.core.token_bucket import REDIS_BUCKET_SCRIPT
from corral_sdk.policy import ThrottleVerdict

_MAX_RAW_KEY_CHARS = 200
_MAX_TTL_MS = 30 * 24 * 3600 * 1000


class RedisThrottleStore:
    """Token buckets shared through Redis; `client` is a synchronous, thread-safe client."""

    def __init__(self, client: redis.Redis, *, key_prefix: str = "corral:throttle:") -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(REDIS_BUCKET_SCRIPT)

    def _key(self, key: str) -> str:
        # Throttle keys embed caller-chosen subjects (agent names); long ones are hashed so
        # a key's size stays bounded.
        if len(key) > _MAX_RAW_KEY_CHARS:
            key = "sha256:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
        return self._prefix + key

    def take(self, key: str, max_calls: int, window_seconds: float) -> ThrottleVerdict:
        """Take a token from the shared bucket `key`, or say when the next one is due."""
        # A bucket left alone for a whole window is full again, the same as a missing key, so
        # the key may expire then (plus a second of slack for clock granularity).
        ttl_ms = min(math.ceil(window_seconds * 1000) + 1000, _MAX_TTL_MS)
        admitted, _, retry = self._script(
            keys=[self._key(key)], args=[repr(max_calls / window_seconds), max_calls, ttl_ms]
        )
        if int(admitted) == 1:
            return ThrottleVerdict(admitted=True)
        return ThrottleVerdict(admitted=False, retry_after_seconds=float(retry))
