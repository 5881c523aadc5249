-- KEYS: state, c1, c, u of the node
-- ARGV: prefix, node, channel
-- Returns 1 if the channel was held. Counting per channel: HDEL, ZSCORE and
-- two HINCRBYs. A node already forgotten has no holdings left to release; one
-- lapsed but not yet swept still counts in the totals, so both move together.
local function drop()
  if redis.call('ZSCORE', ARGV[1] .. ':ex', ARGV[2]) then
    redis.call('HINCRBY', KEYS[1], 'n\0' .. ARGV[2], -1)
    redis.call('HINCRBY', KEYS[1], '#u', -1)
  end
end
if redis.call('HDEL', KEYS[2], ARGV[3]) == 1 then
  drop()
  return 1
end
local unit = redis.call('HGET', KEYS[3], ARGV[3])
if not unit then return 0 end
redis.call('HDEL', KEYS[3], ARGV[3])
if redis.call('HINCRBY', KEYS[4], unit, -1) <= 0 then
  redis.call('HDEL', KEYS[4], unit)
  drop()
end
return 1
