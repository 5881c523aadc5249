-- Shared by the product scripts. Every key of a product carries the hash tag
-- {lb:<product>}, so a script touches one Redis Cluster slot. Times are
-- milliseconds from the calling node's clock.
--
-- The product's state hash (KEYS[1]) holds, per node N:
--   e\0N       live until (ms)
--   n\0N       units held
--   o\0N       passive count (channels using the product without admission)
--   w\0N       legs the node's SIP monitor sees on the wire
--   k\0N\0ID   a key: "channels:until_ms" (0: no end)
-- so that one HGETALL reads all a decision needs: admission latency is mostly
-- the number of redis.call()s a script makes.

local byte, sub, find, tonum = string.byte, string.sub, string.find, tonumber

-- load parses the state hash into nodes[name] = {exp, n, o, w, keys}. It runs on
-- every admission, so it allocates as little as it can.
local function load(s_key)
  local kv = redis.call('HGETALL', s_key)
  local nodes = {}
  for i = 1, #kv, 2 do
    local f = kv[i]
    local kind = byte(f, 1)
    local name, id
    if kind == 107 then -- k
      local sep = find(f, '\0', 3, true)
      name, id = sub(f, 3, sep - 1), sub(f, sep + 1)
    else
      name = sub(f, 3)
    end
    local x = nodes[name]
    if not x then
      x = {exp = 0, n = 0, o = 0, w = 0, keys = {}}
      nodes[name] = x
    end
    if kind == 107 then x.keys[id] = kv[i + 1]
    elseif kind == 101 then x.exp = tonum(kv[i + 1]) -- e
    elseif kind == 110 then x.n = tonum(kv[i + 1]) -- n
    elseif kind == 111 then x.o = tonum(kv[i + 1]) -- o
    elseif kind == 119 then x.w = tonum(kv[i + 1]) end -- w
  end
  return nodes
end

-- forget drops a node's fields and holdings (it is new, or lapsed).
local function forget(s_key, prefix, nodes, name)
  local x = nodes[name]
  if x then
    local fields = {'e\0' .. name, 'n\0' .. name, 'o\0' .. name, 'w\0' .. name}
    for id in pairs(x.keys) do fields[#fields + 1] = 'k\0' .. name .. '\0' .. id end
    redis.call('HDEL', s_key, unpack(fields))
  end
  redis.call('DEL', prefix .. ':c1:' .. name, prefix .. ':c:' .. name, prefix .. ':u:' .. name)
  nodes[name] = nil
end

-- sweep forgets every registered node whose expiry is not after now and
-- returns the nodes, the live names, and whether self is live.
local function sweep(s_key, prefix, now, self)
  local nodes = load(s_key)
  local live, present = {}, false
  for name, x in pairs(nodes) do
    if x.exp > 0 then
      if x.exp <= now then
        forget(s_key, prefix, nodes, name)
      else
        live[#live + 1] = name
        if name == self then present = true end
      end
    end
  end
  return nodes, live, present
end

-- register makes self live until exp with nothing held.
local function register(s_key, prefix, nodes, live, self, exp)
  forget(s_key, prefix, nodes, self)
  nodes[self] = {exp = tonum(exp), n = 0, o = 0, w = 0, keys = {}}
  live[#live + 1] = self
  redis.call('HSET', s_key, 'e\0' .. self, exp)
end

-- less compares bytes, as Go does; Lua's < follows the server's locale.
local function less(a, b)
  local la, lb = #a, #b
  for i = 1, math.min(la, lb) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return la < lb
end

-- pool returns the total, whether an ended key was seen, and the units used,
-- for self's pool: every live node's distinct keys (cluster), or the keys self
-- owns, a key on several nodes belonging to the first by name (per-host).
-- Mirrors capacity and used in bridge/store.go.
local function pool(nodes, live, now, mode, self)
  local owners, chans = {}, {}
  local expired = 0
  for _, name in ipairs(live) do
    for id, v in pairs(nodes[name].keys) do
      local sep = find(v, ':', 1, true)
      local untl = tonum(sub(v, sep + 1))
      if untl > 0 and untl <= now then
        expired = 1
      else
        local o = owners[id]
        if o == nil or less(name, o) then
          owners[id] = name
          chans[id] = tonum(sub(v, 1, sep - 1))
        end
      end
    end
  end
  local total = 0
  for id, o in pairs(owners) do
    if mode ~= 'per-host' or o == self then total = total + chans[id] end
  end
  local used = 0
  for _, name in ipairs(live) do
    if mode ~= 'per-host' or name == self then used = used + nodes[name].n end
  end
  return total, expired, used
end
