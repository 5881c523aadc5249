-- KEYS: state, c1, c, u of self
-- ARGV: self, now, expires, gc_ms
-- A fixed number of calls whatever the node holds. Returns 1 if self had
-- lapsed (its holdings are dropped here if nobody swept them yet; the node
-- writes them back with a resync, which registers it again).
local self = ARGV[1]
local e = redis.call('HGET', KEYS[1], 'e\0' .. self)
local lapsed = 0
if not e or tonumber(e) <= tonumber(ARGV[2]) then
  lapsed = 1
  local kp = 'k\0' .. self .. '\0'
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if f == 'n\0' .. self or f == 'o\0' .. self or f == 'w\0' .. self or string.sub(f, 1, #kp) == kp then
      redis.call('HDEL', KEYS[1], f)
    end
  end
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
end
-- A lapsed node is not registered again here: until its resync writes its
-- keys and holdings back, its admissions find it fresh and resync first
-- (registered bare, it would be asked to decide with none of its keys: a
-- store restarted empty answered NO_LICENSE).
if lapsed == 0 then redis.call('HSET', KEYS[1], 'e\0' .. self, ARGV[3]) end
-- Real TTLs only collect what an abandoned cluster leaves behind; liveness
-- itself is decided from the expiry fields.
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return lapsed
