-- KEYS: state, c1, c, u of self
-- ARGV: prefix, self, now, expires, pool, then channel, unit pairs
-- Replaces self's holdings, never refusing. Returns {in_use, total, live_nodes}.
local prefix, self = ARGV[1], ARGV[2]
local now = tonumber(ARGV[3])
local nodes, live, present = sweep(KEYS[1], prefix, now, self)
if not present then register(KEYS[1], prefix, nodes, live, self, ARGV[4]) end
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
redis.call('HSET', KEYS[1], 'e\0' .. self, ARGV[4], 'n\0' .. self, n)
nodes[self].n = n
local total, _, used = pool(nodes, live, now, ARGV[5], self)
return {used, total, #live}
