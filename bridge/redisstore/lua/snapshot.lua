-- KEYS: nodes
-- ARGV: prefix, now
-- Returns, per live node, {node, expires_ms, units, observed, {key ID, value, ...}}.
local prefix = ARGV[1]
local nodes = sweep(KEYS[1], prefix, tonumber(ARGV[2]))
local out = {}
for _, n in ipairs(nodes) do
  local exp = redis.call('ZSCORE', KEYS[1], n)
  local obs = redis.call('HGET', prefix .. ':o', n) or '0'
  table.insert(out, {n, exp, redis.call('HLEN', prefix .. ':u:' .. n), obs, redis.call('HGETALL', prefix .. ':k:' .. n)})
end
return out
