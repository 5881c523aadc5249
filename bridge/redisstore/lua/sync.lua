-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, pool, then channel, unit pairs
-- Replaces self's holdings, never refusing. Returns {in_use, total, live_nodes}.
init(ARGV[1])
local self = ARGV[2]
local now = tonumber(ARGV[3])
local v = prepare(now, self)
if not v[5] then
  register(self, ARGV[4])
  v[6], v[7], v[8] = 0, 0, live(v) + 1
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
local n = 0
for i = 6, #ARGV, 2 do
  local ch, unit = ARGV[i], ARGV[i + 1]
  if unit == '' then
    if redis.call('HSETNX', KEYS[2], ch, 1) == 1 then n = n + 1 end
  elseif redis.call('HSETNX', KEYS[3], ch, unit) == 1 then
    if redis.call('HINCRBY', KEYS[4], unit, 1) == 1 then n = n + 1 end
  end
end
local was = tonumber(v[6]) or 0
redis.call('HSET', KEYS[1], 'e\0' .. self, ARGV[4], 'n\0' .. self, n)
liveuntil(self, ARGV[4])
incr('#u', n - was)
v[2] = (tonumber(v[2]) or 0) + n - was
v[6] = n
local used, total = pick(v, ARGV[5])
return {used, total, live(v)}
