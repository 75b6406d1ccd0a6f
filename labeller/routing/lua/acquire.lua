-- Take one request slot from a sliding 60 s window, or say how long until one frees up.
-- Check and count happen in this one script, so N workers can never send N times the limit.
--
-- KEYS[1]  sorted set (zset): member = request id, score = grant time in ms
-- ARGV[1]  limit: requests allowed in any window (integer)
-- ARGV[2]  window length in ms (integer)
-- ARGV[3]  request id (string, unique per acquire)
-- ARGV[4]  now in ms, or "" to use Redis TIME (one clock for every node)
--
-- Returns  0 when granted; otherwise the wait in ms until the oldest grant leaves the window.

local limit = tonumber(ARGV[1])
local window_ms = tonumber(ARGV[2])
local now_ms = tonumber(ARGV[4])
if now_ms == nil then
  local t = redis.call('TIME')
  now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window_ms)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window_ms * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + window_ms - now_ms
if wait < 1 then
  wait = 1
end
return wait
