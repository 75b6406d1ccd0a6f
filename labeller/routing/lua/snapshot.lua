-- Read a route's state for status pages and metrics; writes nothing.
--
-- KEYS     as acquire.lua: KEYS[1..7] the provider's, then 5 per key
--
-- ARGV[1]  now (epoch ms), or "" to use Redis TIME
-- ARGV[2]  window length (ms)
-- ARGV[3]  n, the number of keys
-- ARGV[3 + i]  alias of key i
--
-- Returns  {now_ms, rpm_used, tpm_used, in_flight, breaker_state, breaker_failures,
--           breaker_until_ms (0 = none), then per key i: rpm_used, tpm_used,
--           cooldown_until_ms (0 = not cooling), disabled (0|1)}

local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local after = '(' .. (now - tonumber(ARGV[2]))
local BATCH = 500

local function tpm_used(zset, hash)
  local ids = redis.call('ZRANGEBYSCORE', zset, after, '+inf')
  local sum = 0
  for first = 1, #ids, BATCH do
    local part = { unpack(ids, first, math.min(first + BATCH - 1, #ids)) }
    for _, amount in ipairs(redis.call('HMGET', hash, unpack(part))) do
      sum = sum + (tonumber(amount) or 0)
    end
  end
  return sum
end

local breaker = redis.call('HMGET', KEYS[6], 'state', 'failures', 'until')
local state = breaker[1] or 'closed'
local until_ms = 0
if state == 'open' then
  until_ms = tonumber(breaker[3]) or 0
end
local out = {
  now,
  redis.call('ZCOUNT', KEYS[1], after, '+inf'),
  tpm_used(KEYS[2], KEYS[3]),
  redis.call('ZCOUNT', KEYS[5], '(' .. now, '+inf'),
  state,
  tonumber(breaker[2]) or 0,
  until_ms,
}
for i = 1, tonumber(ARGV[3]) do
  local k = 7 + 5 * (i - 1)
  local cooling = tonumber(redis.call('HGET', KEYS[k + 5], 'until')) or 0
  if cooling <= now then
    cooling = 0
  end
  out[#out + 1] = redis.call('ZCOUNT', KEYS[k + 1], after, '+inf')
  out[#out + 1] = tpm_used(KEYS[k + 2], KEYS[k + 3])
  out[#out + 1] = cooling
  out[#out + 1] = redis.call('SISMEMBER', KEYS[7], ARGV[3 + i])
end
return out
