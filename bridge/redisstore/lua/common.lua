-- Shared by the product scripts. Every key of a product carries the hash tag
-- {lb:<product>} (the prefix, ARGV[1] or built from it), so a script touches one
-- Redis Cluster slot. Times are milliseconds from the calling node's clock.

-- sweep drops every node whose expiry is not after now, with all it held, and
-- returns the live nodes.
local function sweep(nodes_key, prefix, now)
  local dead = redis.call('ZRANGEBYSCORE', nodes_key, '-inf', now)
  if #dead > 0 then
    for _, n in ipairs(dead) do
      redis.call('DEL', prefix .. ':c:' .. n, prefix .. ':u:' .. n, prefix .. ':k:' .. n)
      redis.call('HDEL', prefix .. ':o', n)
    end
    redis.call('ZREMRANGEBYSCORE', nodes_key, '-inf', now)
  end
  return redis.call('ZRANGE', nodes_key, 0, -1)
end

-- forget drops a node's holdings, keys and observation (it is new or lapsed).
local function forget(prefix, node)
  redis.call('DEL', prefix .. ':c:' .. node, prefix .. ':u:' .. node, prefix .. ':k:' .. node)
  redis.call('HDEL', prefix .. ':o', node)
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
local function pool(prefix, nodes, now, mode, self)
  local owners = {}
  local expired = 0
  for _, n in ipairs(nodes) do
    local kv = redis.call('HGETALL', prefix .. ':k:' .. n)
    for i = 1, #kv, 2 do
      local v = kv[i + 1]
      local sep = string.find(v, ':', 1, true)
      local ch = tonumber(string.sub(v, 1, sep - 1))
      local untl = tonumber(string.sub(v, sep + 1))
      if untl > 0 and untl <= now then
        expired = 1
      else
        local o = owners[kv[i]]
        if o == nil or less(n, o[1]) then owners[kv[i]] = {n, ch} end
      end
    end
  end
  local total = 0
  for _, o in pairs(owners) do
    if mode ~= 'per-host' or o[1] == self then total = total + o[2] end
  end
  local used = 0
  for _, n in ipairs(nodes) do
    if mode ~= 'per-host' or n == self then used = used + redis.call('HLEN', prefix .. ':u:' .. n) end
  end
  return total, expired, used
end
