-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, then key ID, "channels:until_ms" pairs
-- Replaces self's keys. Returns 1 if self was not live before (fresh).
local prefix, self = ARGV[1], ARGV[2]
local nodes, live, present = sweep(KEYS[1], prefix, tonumber(ARGV[3]), self)
local fresh = 0
if present then
  for id in pairs(nodes[self].keys) do redis.call('HDEL', KEYS[1], 'k\0' .. self .. '\0' .. id) end
else
  fresh = 1
  register(KEYS[1], prefix, nodes, live, self, ARGV[4])
end
redis.call('HSET', KEYS[1], 'e\0' .. self, ARGV[4])
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], 'k\0' .. self .. '\0' .. ARGV[i], ARGV[i + 1])
end
return fresh
