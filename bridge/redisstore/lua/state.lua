-- rebuild recomputes the totals and indexes from the nodes' own fields, once:
-- for a state hash written by an earlier layout (a key per field,
-- "k\0N\0ID" = "channels:until"; or layout 2, without #o and #w), or when the hash is gone (a store restarted
-- empty; anything left beside it is stale). Only nodes live as of now stay.
local function rebuild(now)
  local kv = redis.call('HGETALL', S)
  local nodes = {}
  local function node(name)
    local x = nodes[name]
    if not x then
      x = {e = 0, n = 0, keys = {}}
      nodes[name] = x
    end
    return x
  end
  for i = 1, #kv, 2 do
    local f, v = kv[i], kv[i + 1]
    local kind = sub(f, 1, 1)
    if kind == 'k' then
      local sep, c = find(f, '\0', 3, true), find(v, ':', 1, true)
      node(sub(f, 3, sep - 1)).keys[sub(f, sep + 1)] = {tonum(sub(v, 1, c - 1)), tonum(sub(v, c + 1))}
    elseif kind == 'K' then
      local x = node(sub(f, 3))
      for _, k in ipairs(keylist(v)) do x.keys[k[1]] = {k[2], k[3]} end
    elseif kind == 'e' then node(sub(f, 3)).e = tonum(v)
    elseif kind == 'n' then node(sub(f, 3)).n = tonum(v)
    elseif kind == 'o' then node(sub(f, 3)).o = v
    elseif kind == 'w' then node(sub(f, 3)).w = v end
  end
  redis.call('DEL', S, EX, KX, KO)
  redis.call('HSET', S, '#v', LAYOUT, '#u', 0, '#c', 0, '#x', 0, '#l', 0, '#o', 0, '#w', 0)
  for name, x in pairs(nodes) do
    if x.o then redis.call('HSET', S, 'o\0' .. name, x.o) end
    if x.e > now then
      local keys = {}
      for id, k in pairs(x.keys) do keys[#keys + 1] = {id, k[1], k[2]} end
      redis.call('HSET', S, 'e\0' .. name, x.e, 'n\0' .. name, x.n, 'K\0' .. name, keystring(keys))
      if x.w then redis.call('HSET', S, 'w\0' .. name, x.w) end
      liveuntil(name, x.e)
      incr('#u', x.n)
      incr('#o', tonum(x.o) or 0)
      incr('#w', tonum(x.w) or 0)
      addkeys(name, keys, now)
    else
      redis.call('DEL', P .. ':c1:' .. name, P .. ':c:' .. name, P .. ':u:' .. name)
    end
  end
end

-- prepare brings the state up to now and returns, in one read,
-- {version, units, cluster channels, ended keys, self's live-until, self's
-- units, self's own channels, live nodes, next deadline}. Self is live iff
-- [5] is set. Usually that read is all: the sweep runs only once a deadline
-- has come.
local function prepare(now, self)
  local f = {'#v', '#u', '#c', '#x', 'e\0' .. self, 'n\0' .. self, 'h\0' .. self, '#l', '#d'}
  local v = redis.call('HMGET', S, unpack(f))
  if v[1] ~= LAYOUT then
    rebuild(now)
    sweep(now)
    v = redis.call('HMGET', S, unpack(f))
  elseif not v[9] or now >= tonum(v[9]) then
    sweep(now)
    v = redis.call('HMGET', S, unpack(f))
  end
  return v
end

-- register makes self live until exp with nothing held and no keys.
local function register(self, exp)
  forget(self)
  redis.call('HSET', S, 'e\0' .. self, exp, 'n\0' .. self, 0)
  liveuntil(self, exp)
end

-- pick returns the units used and the channels of self's pool.
local function pick(v, mode)
  if mode == 'per-host' then return tonum(v[6]) or 0, tonum(v[7]) or 0 end
  return tonum(v[2]) or 0, tonum(v[3]) or 0
end

local function live(v) return tonum(v[8]) or 0 end
