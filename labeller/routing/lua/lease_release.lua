-- Give a lease back, only if the caller still holds it (not one a successor took).
--
-- KEYS[1]  string  the lease
-- ARGV[1]  the caller's token
-- Returns 1 if it was released, 0 otherwise.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
