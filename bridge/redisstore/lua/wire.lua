-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, legs
-- Sets self's wire count (legs its SIP monitor sees) and keeps self live
-- until expires. Returns 1 if self was not live before (fresh).
init(ARGV[1])
local self = ARGV[2]
local v = prepare(tonumber(ARGV[3]), self)
local fresh = 0
if not v[5] then
  fresh = 1
  register(self, ARGV[4])
end
redis.call('HSET', S, 'e\0' .. self, ARGV[4], 'w\0' .. self, ARGV[5])
liveuntil(self, ARGV[4])
return fresh
