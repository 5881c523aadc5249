-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, legs
-- Sets self's wire count (legs its SIP monitor sees) and keeps self live
-- until expires, moving #w by the change. Returns 1 if self was not live
-- before (fresh).
init(ARGV[1])
local self = ARGV[2]
local v = prepare(tonumber(ARGV[3]), self)
local fresh, was = 0, 0
if v[5] then
  was = tonumber(redis.call('HGET', S, 'w\0' .. self)) or 0
else
  fresh = 1
  register(self, ARGV[4])
end
redis.call('HSET', S, 'e\0' .. self, ARGV[4], 'w\0' .. self, ARGV[5])
liveuntil(self, ARGV[4])
incr('#w', tonumber(ARGV[5]) - was)
return fresh
