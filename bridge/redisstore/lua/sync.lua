-- KEYS: nodes, channels of self, units of self
-- ARGV: prefix, self, now, expires, pool, then channel, unit pairs
-- Replaces self's holdings, never refusing. Returns {in_use, total}.
local prefix, self = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
sweep(KEYS[1], prefix, now)
if not redis.call('ZSCORE', KEYS[1], self) then forget(prefix, self) end
redis.call('ZADD', KEYS[1], ARGV[4], self)
redis.call('DEL', KEYS[2], KEYS[3])
for i = 6, #ARGV, 2 do
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('HINCRBY', KEYS[3], ARGV[i + 1], 1)
  end
end
local total, _, used = pool(prefix, redis.call('ZRANGE', KEYS[1], 0, -1), now, ARGV[5], self)
return {used, total}
