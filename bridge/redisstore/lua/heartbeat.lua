-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, gc_ms
-- A fixed number of calls whatever the node holds. Returns 1 if self had
-- lapsed (its holdings are dropped here if nobody swept them yet; the node
-- writes them back with a resync, which registers it again).
init(ARGV[1])
local self = ARGV[2]
local e = redis.call('HGET', S, 'e\0' .. self)
local lapsed = 0
if not e or tonumber(e) <= tonumber(ARGV[3]) then
  lapsed = 1
  forget(self)
end
-- A lapsed node is not registered again here: until its resync writes its
-- keys and holdings back, its admissions find it fresh and resync first
-- (registered bare, it would be asked to decide with none of its keys: a
-- store restarted empty answered NO_LICENSE).
if lapsed == 0 then
  redis.call('HSET', S, 'e\0' .. self, ARGV[4])
  liveuntil(self, ARGV[4])
end
-- Real TTLs only collect what an abandoned cluster leaves behind; liveness
-- itself is decided from the expiry fields.
for _, k in ipairs({S, EX, KX, KO, KEYS[2], KEYS[3], KEYS[4]}) do redis.call('PEXPIRE', k, ARGV[5]) end
return lapsed
