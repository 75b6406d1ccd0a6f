-- Cool one key down: no grant on it before the returned deadline. A deadline earlier than the
-- one in force never shortens it (a second, shorter 429 must not reopen the key early).
--
-- The backoff doubles per consecutive 429 on the key: a 429 while the key is already cooling
-- belongs to the same burst (calls sent before the first 429 came back) and does not count
-- again. The streak is forgotten `memory` ms after the deadline passes with no new 429.
--
-- KEYS[1]  hash    key cooldown: until (epoch ms), streak (consecutive 429s)
--
-- ARGV[1]  now (epoch ms), or "" to use Redis TIME
-- ARGV[2]  exact delay (ms) the provider asked for, or "" for the backoff
-- ARGV[3]  backoff base (ms), the delay of a first 429
-- ARGV[4]  backoff cap (ms)
-- ARGV[5]  jitter: the backoff's factor, 0 < jitter <= 1, drawn by the caller
-- ARGV[6]  1 if this is a 429 (counts in the streak), 0 if not (a header said "remaining 0")
-- ARGV[7]  streak memory (ms)
--
-- Returns  the deadline in force (epoch ms)

local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local state = redis.call('HMGET', KEYS[1], 'until', 'streak')
local until_ms = tonumber(state[1]) or 0
local streak = tonumber(state[2]) or 0
local memory = tonumber(ARGV[7])
if until_ms + memory <= now then
  streak = 0 -- the last cooldown ended long ago: this 429 starts a new streak
end
if ARGV[6] == '1' and (until_ms <= now or streak == 0) then
  streak = streak + 1
end
local delay = tonumber(ARGV[2])
if delay == nil then
  local doublings = math.max(streak, 1) - 1
  local backoff = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ doublings)
  delay = math.floor(backoff * tonumber(ARGV[5]))
end
if now + delay > until_ms then
  until_ms = now + delay
end
redis.call('HSET', KEYS[1], 'until', until_ms, 'streak', streak)
redis.call('PEXPIRE', KEYS[1], math.max(until_ms - now, 0) + memory)
return until_ms
