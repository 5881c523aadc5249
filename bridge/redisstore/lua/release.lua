-- KEYS: channels of the node, units of the node
-- ARGV: channel
-- Returns 1 if the channel was held.
local unit = redis.call('HGET', KEYS[1], ARGV[1])
if not unit then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], unit, -1) <= 0 then redis.call('HDEL', KEYS[2], unit) end
return 1
