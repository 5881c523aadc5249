-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, legs
-- Sets self's wire count (legs its SIP monitor sees) and keeps self live
-- until expires. Returns 1 if self was not live before (fresh).
local prefix, self = ARGV[1], ARGV[2]
local nodes, live, present = sweep(KEYS[1], prefix, tonumber(ARGV[3]), self)
local fresh = 0
if not present then
  fresh = 1
  register(KEYS[1], prefix, nodes, live, self, ARGV[4])
end
redis.call('HSET', KEYS[1], 'e\0' .. self, ARGV[4], 'w\0' .. self, ARGV[5])
return fresh
