-- KEYS: nodes, keys of self
-- ARGV: prefix, self, now, expires, then key ID, "channels:until_ms" pairs
-- Replaces self's keys. Returns 1 if self was not live before (fresh).
local prefix, self = ARGV[1], ARGV[2]
sweep(KEYS[1], prefix, tonumber(ARGV[3]))
local fresh = 0
if not redis.call('ZSCORE', KEYS[1], self) then
  fresh = 1
  forget(prefix, self)
end
redis.call('ZADD', KEYS[1], ARGV[4], self)
redis.call('DEL', KEYS[2])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return fresh
