"""One token bucket in Redis, shared by the API rate limiter and the policy throttle.

A bucket holds at most `burst` tokens, starts full, refills at `rate` tokens per second, and each
admitted hit takes one token; a refused hit learns when the next token is due. The script reads,
refills, takes and writes the bucket atomically on the Redis server's clock (TIME), so replicas
with skewed clocks share one timeline and parallel hits never admit more than the bucket holds.

Arguments: rate (tokens per second), burst, key TTL in milliseconds. Reply: admitted (0 or 1),
whole tokens remaining, seconds until the next token. Floats go back as strings because Redis
truncates Lua numbers to integers in replies.
"""

REDIS_BUCKET_SCRIPT = """
if redis.replicate_commands then
  -- Redis < 5 replicates scripts verbatim, which forbids writes after TIME unless switched off.
  pcall(redis.replicate_commands)
end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
else
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(burst, tokens + elapsed * rate)
end
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts',
  string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], ttl_ms)
local remaining = 0
if allowed == 1 then remaining = math.floor(tokens) end
return {allowed, remaining, string.format('%.9f', retry)}
"""
