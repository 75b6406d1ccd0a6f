-- Settle one grant: its TPM reservation becomes what the response said it used, in the key's
-- and the provider's windows, and its in-flight slot is freed. Idempotent: the reservation is
-- set, not shifted, so a repeated settle changes nothing.
--
-- A half-open probe's claim ends `grace` ms after it settles: its outcome (record_success or
-- record_failure, sent just before or just after the settle) decides the breaker, and a probe
-- that has none (a 429, a bad request) proved nothing, so the next acquire may probe.
--
-- KEYS[1]  hash    provider TPM tokens: request id -> tokens
-- KEYS[2]  string  provider TPM total
-- KEYS[3]  hash    key TPM tokens: request id -> tokens
-- KEYS[4]  string  key TPM total
-- KEYS[5]  zset    provider in flight: request id -> lease expiry (ms)
-- KEYS[6]  hash    provider breaker (fields probe: request id, probe_until: epoch ms)
--
-- ARGV[1]  request id
-- ARGV[2]  tokens the call used (integer >= 0)
-- ARGV[3]  window length (ms), the lifetime of a total this script has to recreate
-- ARGV[4]  now (epoch ms), or "" to use Redis TIME
-- ARGV[5]  probe grace (ms)
--
-- Returns  1 if the in-flight slot was still held, 0 if its lease had run out (or settled)

local id = ARGV[1]
local used = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function correct(hash, total)
  local reserved = tonumber(redis.call('HGET', hash, id))
  if reserved == nil or reserved == used then
    return -- already settled, or trimmed out of the window: nothing left to correct
  end
  redis.call('HSET', hash, id, used)
  redis.call('INCRBY', total, used - reserved)
  if redis.call('PTTL', total) < 0 then
    redis.call('PEXPIRE', total, 2 * window)
  end
end

correct(KEYS[1], KEYS[2])
correct(KEYS[3], KEYS[4])
local held = redis.call('ZREM', KEYS[5], id)
local probe = redis.call('HMGET', KEYS[6], 'probe', 'probe_until')
if probe[1] == id and (tonumber(probe[2]) or 0) > now + tonumber(ARGV[5]) then
  redis.call('HSET', KEYS[6], 'probe_until', now + tonumber(ARGV[5]))
end
return held
