"""A `ThrottleStore` in Redis, so that every replica shares one token bucket per throttle key.

Same semantics as `corral_sdk.policy.InMemoryThrottleStore`: a bucket holds at most `max_calls`
tokens, starts full, refills at `max_calls / window_seconds` tokens per second, and each
admitted call takes one token; a refused call learns when the next token is due. One Lua
script reads, refills, takes and writes the bucket atomically, on the Redis server's clock, so
parallel takes from any number of processes never admit more than the bucket holds.

`take` is synchronous because `PolicySet.decide` is; the decision API calls it from a worker
thread (see `corral.governance.decisions`). A failing Redis raises, and the policy set then
fails closed: the call is throttled and the message names the error.
"""

from __future__ import annotations

import hashlib
import math

import redis

from corral_sdk.policy import ThrottleVerdict

# Floats go back as strings: Redis truncates Lua numbers to integers in replies.
_TAKE_SCRIPT = """
if redis.replicate_commands then
  pcall(redis.replicate_commands)
end
local max_calls = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local rate = max_calls / window
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = max_calls
else
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(max_calls, tokens + elapsed * rate)
end
local admitted = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  admitted = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts',
  string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
return {admitted, string.format('%.9f', retry)}
"""

_MAX_RAW_KEY_CHARS = 200
_MAX_TTL_MS = 30 * 24 * 3600 * 1000


class RedisThrottleStore:
    """Token buckets shared through Redis; `client` is a synchronous, thread-safe client."""

    def __init__(self, client: redis.Redis, *, key_prefix: str = "corral:throttle:") -> None:
        self._client = client
        self._prefix = key_prefix
        self._script = client.register_script(_TAKE_SCRIPT)

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
        admitted, retry = self._script(
            keys=[self._key(key)], args=[max_calls, repr(float(window_seconds)), ttl_ms]
        )
        if int(admitted) == 1:
            return ThrottleVerdict(admitted=True)
        return ThrottleVerdict(admitted=False, retry_after_seconds=float(retry))
