-- Count one call's outcome in a provider's circuit breaker.
--
-- closed     `threshold` consecutive failures open it; a success resets the count
-- open       until `until`; outcomes of calls sent before it opened change nothing.
--            acquire.lua turns it half-open once `until` passes, granting one probe
-- half_open  a failure re-opens it for `open` ms; a success closes it
--
-- KEYS[1]  hash    provider breaker: state (closed|open|half_open; absent = closed),
--                  failures, until (epoch ms), probe (request id), probe_until (epoch ms)
--
-- ARGV[1]  now (epoch ms), or "" to use Redis TIME
-- ARGV[2]  outcome: success | failure
-- ARGV[3]  threshold: consecutive failures that open the breaker
-- ARGV[4]  open period (ms)
--
-- Returns  the state after this outcome: closed | open | half_open

local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'open' then
  return state
end
if ARGV[2] == 'success' then
  redis.call('DEL', KEYS[1])
  return 'closed'
end
if state == 'closed' then
  local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if failures < tonumber(ARGV[3]) then
    return 'closed'
  end
end
redis.call('HSET', KEYS[1], 'state', 'open', 'until', now + tonumber(ARGV[4]), 'failures', 0)
redis.call('HDEL', KEYS[1], 'probe', 'probe_until')
return 'open'
