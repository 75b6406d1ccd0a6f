-- Grant one call on the route's roomiest key, or say how long until some key could be granted.
-- Every test (breaker, provider RPM/TPM/in-flight, each key's disabled flag, cooldown, RPM and
-- TPM) and the reservation on both the key and the provider happen in this one script, so no
-- number of workers on any number of nodes can send more than a limit allows.
--
-- Windows are exact and sliding: a grant at t (ms) counts while now < t + window, so any
-- window-long interval holds at most `limit` grants. A TPM reservation larger than the whole
-- limit could never fit beside anything else; it is granted only into an empty window (no
-- tokens reserved), which it then fills alone: late, but never a deadlock.
--
-- KEYS[1]  zset    provider RPM window: request id -> grant time (ms)
-- KEYS[2]  zset    provider TPM window: request id -> grant time (ms)
-- KEYS[3]  hash    provider TPM tokens: request id -> tokens reserved (or settled)
-- KEYS[4]  string  provider TPM total: the sum of KEYS[3] over the members of KEYS[2]
-- KEYS[5]  zset    provider in flight: request id -> lease expiry (ms)
-- KEYS[6]  hash    provider breaker: state (closed|open|half_open; absent = closed),
--                  failures, until (ms), probe (request id), probe_until (ms)
-- KEYS[7]  set     aliases of the disabled keys
-- KEYS[8 + 5(i-1) .. 12 + 5(i-1)]  key i = 1..n: RPM zset, TPM zset, TPM tokens hash,
--                  TPM total string (as KEYS[1..4]), cooldown hash (until ms, streak)
--
-- ARGV[1]  now (epoch ms), or "" to use Redis TIME (one clock for every node)
-- ARGV[2]  request id (unique per acquire)
-- ARGV[3]  tokens to reserve (integer >= 0)
-- ARGV[4]  window length (ms)
-- ARGV[5]  in-flight lease (ms): a slot not settled by then frees itself
-- ARGV[6]  retry (ms): the wait offered when only a settle or a probe's outcome can free the way
-- ARGV[7]  provider RPM, ARGV[8] provider TPM, ARGV[9] provider max in flight ("" = none)
-- ARGV[10] n, the number of keys
-- ARGV[11 + 3(i-1) .. 13 + 3(i-1)]  key i: alias, RPM, TPM ("" = none)
--
-- Returns  {1, i}                granted on key i (1-based)
--          {0, wait_ms, reason}  wait_ms >= 1 until the earliest key could be granted;
--                                reason: rpm | tpm | in_flight | cooldown | breaker | disabled

local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local id = ARGV[2]
local tokens = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
local retry = tonumber(ARGV[6])
local cutoff = now - window -- members scored at or before this have left the window
local BATCH = 500 -- below Lua's unpack limit

local function later(wait, reason, other_wait, other_reason)
  if other_wait > wait then
    return other_wait, other_reason
  end
  return wait, reason
end

-- Drop the members that left a TPM window, and their tokens; return the tokens still in it.
local function trim_tpm(zset, hash, total)
  local gone = redis.call('ZRANGEBYSCORE', zset, '-inf', cutoff)
  if #gone > 0 then
    local freed = 0
    for first = 1, #gone, BATCH do
      local part = { unpack(gone, first, math.min(first + BATCH - 1, #gone)) }
      for _, amount in ipairs(redis.call('HMGET', hash, unpack(part))) do
        freed = freed + (tonumber(amount) or 0)
      end
      redis.call('HDEL', hash, unpack(part))
    end
    redis.call('ZREMRANGEBYSCORE', zset, '-inf', cutoff)
    if freed ~= 0 then
      redis.call('DECRBY', total, freed)
    end
  end
  return tonumber(redis.call('GET', total)) or 0
end

-- ms until an RPM window (already trimmed) has room for one more grant.
local function rpm_wait(zset, limit)
  if limit == nil then
    return 0
  end
  local used = redis.call('ZCARD', zset)
  if used < limit then
    return 0
  end
  local nth = redis.call('ZRANGE', zset, used - limit, used - limit, 'WITHSCORES')
  return tonumber(nth[2]) + window - now
end

-- ms until a TPM window holding `total` has room for `tokens`: walk the oldest grants out.
local function tpm_wait(zset, hash, total, limit)
  if limit == nil then
    return 0
  end
  local need = total + tokens - limit
  if tokens > limit then
    need = total -- oversized: only into an empty window
  end
  if need <= 0 then
    return 0
  end
  local freed, start = 0, 0
  while true do
    local part = redis.call('ZRANGE', zset, start, start + BATCH - 1, 'WITHSCORES')
    if #part == 0 then
      return window -- the total overstates the members: they all leave within a window
    end
    local ids = {}
    for i = 1, #part, 2 do
      ids[#ids + 1] = part[i]
    end
    for j, amount in ipairs(redis.call('HMGET', hash, unpack(ids))) do
      freed = freed + (tonumber(amount) or 0)
      if freed >= need then
        return tonumber(part[2 * j]) + window - now
      end
    end
    start = start + BATCH
  end
end

-- The provider: breaker first, then its windows and in-flight slots.
local wait, reason = 0, ''
local probe = false
local breaker = redis.call('HMGET', KEYS[6], 'state', 'until', 'probe_until')
if breaker[1] == 'open' then
  local until_ms = tonumber(breaker[2]) or 0
  if now < until_ms then
    wait, reason = until_ms - now, 'breaker'
  else
    probe = true -- the open period is over: this grant, if any, is the half-open probe
  end
elseif breaker[1] == 'half_open' then
  local probe_until = tonumber(breaker[3]) or 0
  if now < probe_until then
    wait, reason = math.min(retry, probe_until - now), 'breaker'
  else
    probe = true -- no live probe: its lease ran out or it settled without an outcome
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cutoff)
wait, reason = later(wait, reason, rpm_wait(KEYS[1], tonumber(ARGV[7])), 'rpm')
local provider_total = trim_tpm(KEYS[2], KEYS[3], KEYS[4])
wait, reason = later(wait, reason, tpm_wait(KEYS[2], KEYS[3], provider_total, tonumber(ARGV[8])), 'tpm')
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
local max_in_flight = tonumber(ARGV[9])
if max_in_flight ~= nil then
  local busy = redis.call('ZCARD', KEYS[5])
  if busy >= max_in_flight then
    local first = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
    wait, reason = later(wait, reason, math.min(retry, tonumber(first[2]) - now), 'in_flight')
  end
end

-- The keys: the free one with the most headroom, else the soonest to free up.
local best, best_room, best_used = nil, -1, 0
local soonest, soonest_reason = nil, ''
for i = 1, tonumber(ARGV[10]) do
  local k = 7 + 5 * (i - 1)
  local a = 10 + 3 * (i - 1)
  if redis.call('SISMEMBER', KEYS[7], ARGV[a + 1]) == 0 then
    local rpm, tpm = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
    local key_wait, key_reason = 0, ''
    local until_ms = tonumber(redis.call('HGET', KEYS[k + 5], 'until')) or 0
    if until_ms > now then
      key_wait, key_reason = until_ms - now, 'cooldown'
    end
    redis.call('ZREMRANGEBYSCORE', KEYS[k + 1], '-inf', cutoff)
    key_wait, key_reason = later(key_wait, key_reason, rpm_wait(KEYS[k + 1], rpm), 'rpm')
    local total = trim_tpm(KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])
    key_wait, key_reason =
      later(key_wait, key_reason, tpm_wait(KEYS[k + 2], KEYS[k + 3], total, tpm), 'tpm')
    if key_wait == 0 then
      -- Headroom: the smaller free fraction of its limits; ties go to the least used key.
      local used = redis.call('ZCARD', KEYS[k + 1])
      local room = 1
      if rpm ~= nil then
        room = math.min(room, (rpm - used) / rpm)
      end
      if tpm ~= nil then
        room = math.min(room, (tpm - total) / tpm)
      end
      if room > best_room or (room == best_room and used < best_used) then
        best, best_room, best_used = i, room, used
      end
    elseif soonest == nil or key_wait < soonest then
      soonest, soonest_reason = key_wait, key_reason
    end
  end
end

if best == nil and soonest == nil then
  return { 0, math.max(wait, window), 'disabled' }
end
if best == nil then
  wait, reason = later(wait, reason, soonest, soonest_reason)
end
if wait > 0 then
  return { 0, math.max(1, math.ceil(wait)), reason }
end

local function reserve(rpm_zset, tpm_zset, hash, total)
  redis.call('ZADD', rpm_zset, now, id)
  redis.call('ZADD', tpm_zset, now, id)
  redis.call('HSET', hash, id, tokens)
  redis.call('INCRBY', total, tokens)
  for _, key in ipairs({ rpm_zset, tpm_zset, hash, total }) do
    redis.call('PEXPIRE', key, 2 * window)
  end
end

local k = 7 + 5 * (best - 1)
reserve(KEYS[1], KEYS[2], KEYS[3], KEYS[4])
reserve(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4])
redis.call('ZADD', KEYS[5], now + lease, id)
redis.call('PEXPIRE', KEYS[5], lease + window)
if probe then
  redis.call('HSET', KEYS[6], 'state', 'half_open', 'probe', id, 'probe_until', now + lease)
end
return { 1, best }
