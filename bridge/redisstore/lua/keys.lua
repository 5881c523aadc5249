-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, then key ID, "channels:until_ms" pairs
-- Replaces self's keys (a key ID given twice: the last one). Returns 1 if
-- self was not live before (fresh).
init(ARGV[1])
local self = ARGV[2]
local now = tonumber(ARGV[3])
local v = prepare(now, self)
local fresh = 0
if v[5] then
  dropkeys(self, keylist(redis.call('HGET', S, 'K\0' .. self)))
else
  fresh = 1
  register(self, ARGV[4])
end
local keys, at = {}, {}
for i = 5, #ARGV, 2 do
  local val = ARGV[i + 1]
  local c = string.find(val, ':', 1, true)
  local k = {ARGV[i], tonumber(string.sub(val, 1, c - 1)), tonumber(string.sub(val, c + 1))}
  if at[k[1]] then keys[at[k[1]]] = k else
    keys[#keys + 1] = k
    at[k[1]] = #keys
  end
end
addkeys(self, keys, now)
redis.call('HSET', S, 'e\0' .. self, ARGV[4], 'K\0' .. self, keystring(keys))
liveuntil(self, ARGV[4])
return fresh
