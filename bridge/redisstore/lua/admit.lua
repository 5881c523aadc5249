-- KEYS: state, channels counting alone (c1), channels of calls (c), units (u) of self
-- ARGV: prefix, self, channel, unit ('' = the channel counts alone), now, expires, pool, allow_over,
--   no_register ('1': a node that is not live is not registered here; the
--   reply says fresh and nothing changes, so that it writes its keys and
--   holdings back first)
-- Returns {admitted, reason, existing, over, fresh, in_use, total, live_nodes}.
-- Common path, counting per channel: HMGET, HSETNX, two HINCRBYs, whatever
-- the number of nodes and keys.
init(ARGV[1])
local self, channel, unit = ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(ARGV[5])
local v = prepare(now, self)
local fresh = 0
if not v[5] then
  -- Registered bare, the node would be asked to decide without its keys by
  -- every concurrent admission until its resync (NO_LICENSE after a store
  -- restart): one that has keys or holdings resyncs first.
  if ARGV[9] == '1' then return {0, '', 0, 0, 1, 0, 0, live(v)} end
  fresh = 1
  register(self, ARGV[6])
  v[6], v[7], v[8] = 0, 0, live(v) + 1
end
local used, total = pick(v, ARGV[7])
local nodes = live(v)
if unit == '' then
  if redis.call('HSETNX', KEYS[2], channel, 1) == 0 then return {1, '', 1, 0, fresh, used, total, nodes} end
else
  if redis.call('HSETNX', KEYS[3], channel, unit) == 0 then return {1, '', 1, 0, fresh, used, total, nodes} end
  -- another channel of a call already held: no further unit
  if redis.call('HINCRBY', KEYS[4], unit, 1) > 1 then return {1, '', 0, 0, fresh, used, total, nodes} end
end
local over = 0
if used + 1 > total then
  if ARGV[8] ~= '1' then
    if unit == '' then
      redis.call('HDEL', KEYS[2], channel)
    else
      redis.call('HDEL', KEYS[3], channel)
      redis.call('HDEL', KEYS[4], unit)
    end
    local reason = 'OVER_LIMIT'
    if total == 0 then
      if (tonumber(v[4]) or 0) > 0 then reason = 'EXPIRED' else reason = 'NO_LICENSE' end
    end
    return {0, reason, 0, 0, fresh, used, total, nodes}
  end
  over = 1
end
redis.call('HINCRBY', KEYS[1], 'n\0' .. self, 1)
redis.call('HINCRBY', KEYS[1], '#u', 1)
return {1, '', 0, over, fresh, used + 1, total, nodes}
