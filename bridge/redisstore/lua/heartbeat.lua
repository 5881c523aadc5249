-- KEYS: nodes, channels of self, units of self, keys of self, observed
-- ARGV: self, now, expires, gc_ms
-- O(1) in the channels held. Returns 1 if self had lapsed (its holdings are
-- dropped here if nobody swept them yet; the node writes them back).
local sc = redis.call('ZSCORE', KEYS[1], ARGV[1])
local lapsed = 0
if not sc or tonumber(sc) <= tonumber(ARGV[2]) then
  lapsed = 1
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
  redis.call('HDEL', KEYS[5], ARGV[1])
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
-- Real TTLs only collect what an abandoned cluster leaves behind; liveness
-- itself is decided from the expiry scores above.
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[4]) end
return lapsed
