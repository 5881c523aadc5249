-- KEYS: state, c1, c of a node
-- ARGV: node, now
-- Returns the node's holdings as flat channel, unit pairs ('' = the channel
-- counts alone), or nothing when the node is not live (never registered, or
-- lapsed: its holdings no longer count). Read-only.
local exp = tonumber(redis.call('HGET', KEYS[1], 'e\0' .. ARGV[1]) or '0')
if exp <= tonumber(ARGV[2]) then return {} end
local out = {}
for _, ch in ipairs(redis.call('HKEYS', KEYS[2])) do
  out[#out + 1] = ch
  out[#out + 1] = ''
end
local kv = redis.call('HGETALL', KEYS[3])
for i = 1, #kv, 2 do
  out[#out + 1] = kv[i]
  out[#out + 1] = kv[i + 1]
end
return out
