-- KEYS: state
-- ARGV: prefix, now
-- Returns, per live node, {node, expires_ms, units, observed, wire, {key ID, value, ...}}.
local nodes, live = sweep(KEYS[1], ARGV[1], tonumber(ARGV[2]), '')
local out = {}
for _, name in ipairs(live) do
  local x = nodes[name]
  local keys = {}
  for id, v in pairs(x.keys) do
    keys[#keys + 1] = id
    keys[#keys + 1] = v
  end
  out[#out + 1] = {name, tostring(x.exp), x.n, x.o, x.w, keys}
end
return out
