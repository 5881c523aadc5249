-- KEYS: state, c1, c, u of the node
-- ARGV: node, channel
-- Returns 1 if the channel was held. Counting per channel: HDEL, HINCRBY.
if redis.call('HDEL', KEYS[2], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'n\0' .. ARGV[1], -1)
  return 1
end
local unit = redis.call('HGET', KEYS[3], ARGV[2])
if not unit then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
if redis.call('HINCRBY', KEYS[4], unit, -1) <= 0 then
  redis.call('HDEL', KEYS[4], unit)
  redis.call('HINCRBY', KEYS[1], 'n\0' .. ARGV[1], -1)
end
return 1
