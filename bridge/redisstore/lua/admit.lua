-- KEYS: nodes, channels of self, units of self
-- ARGV: prefix, self, channel, unit, now, expires, pool, allow_over
-- Returns {admitted, reason, existing, over, fresh, in_use, total}.
local prefix, self, channel, unit = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
local nodes = sweep(KEYS[1], prefix, now)
local fresh = 0
if not redis.call('ZSCORE', KEYS[1], self) then
  fresh = 1
  forget(prefix, self)
  redis.call('ZADD', KEYS[1], ARGV[6], self)
  table.insert(nodes, self)
end
local total, expired, used = pool(prefix, nodes, now, ARGV[7], self)
if redis.call('HEXISTS', KEYS[2], channel) == 1 then
  return {1, '', 1, 0, fresh, used, total}
end
if redis.call('HEXISTS', KEYS[3], unit) == 1 then
  -- another channel of the same call: it holds no further unit
  redis.call('HSET', KEYS[2], channel, unit)
  redis.call('HINCRBY', KEYS[3], unit, 1)
  return {1, '', 0, 0, fresh, used, total}
end
local over = 0
if used + 1 > total then
  if ARGV[8] ~= '1' then
    local reason = 'OVER_LIMIT'
    if total == 0 then
      if expired == 1 then reason = 'EXPIRED' else reason = 'NO_LICENSE' end
    end
    return {0, reason, 0, 0, fresh, used, total}
  end
  over = 1
end
redis.call('HSET', KEYS[2], channel, unit)
redis.call('HINCRBY', KEYS[3], unit, 1)
return {1, '', 0, over, fresh, used + 1, total}
