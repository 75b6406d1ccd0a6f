-- Take or renew a named lease: one holder at a time (the acting feeder), lapsing after ttl.
--
-- KEYS[1]  string  the lease: holder token, with a TTL
-- ARGV[1]  the caller's token
-- ARGV[2]  ttl (ms)
-- Returns 1 if the caller holds the lease now, 0 if someone else does.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
