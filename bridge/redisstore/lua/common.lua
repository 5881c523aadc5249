-- Shared by the product scripts. Every key of a product carries the hash tag
-- {lb:<product>}, so a script touches one Redis Cluster slot. Times are
-- milliseconds from the calling node's clock.
--
-- A decision must cost the same whatever the number of nodes and keys, so
-- the pool's totals are kept up to date as nodes and keys come and go, and
-- lapsed nodes and ended keys are found through expiry indexes.
--
-- The state hash, <prefix>:s, holds per node N:
--   e\0N       live until (ms)
--   n\0N       units held
--   o\0N       passive count (channels using the product without admission)
--   w\0N       legs the node's SIP monitor sees on the wire
--   K\0N       its keys: "ID\0channels\0until_ms\0" repeated (until 0: no end)
--   h\0N       channels of the keys N owns (per-host pool)
-- and the totals over live nodes:
--   #v  layout version (not LAYOUT: rebuild from what is there)
--   #u  units held
--   #o  passive counts (o\0N of the live nodes)
--   #w  wire legs (w\0N of the live nodes)
--   #c  channels of the distinct key IDs that have not ended (cluster pool)
--   #x  ended keys still presented
--   #l  live nodes
--   #d  a time (ms) at or before the first live-until and the first key end:
--       until then nothing can lapse or end, so decisions skip the sweep
-- Beside it:
--   <prefix>:ex  ZSET  live node -> live until
--   <prefix>:kx  ZSET  "N\0ID" -> until, for keys with an end not yet reached
--   <prefix>:ko  ZSET  "ID\0N\0channels", all at score 0: who presents each
--                      key ID that has not ended, in byte order of N, so the
--                      first one owns it (a key ID counts once)

local tonum, find, sub = tonumber, string.find, string.sub
local P, S, EX, KX, KO
-- LAYOUT is the state hash's layout version: 3 added #o and #w, so that a
-- hash of layout 2 (without them) is rebuilt once.
local LAYOUT = '3'

-- incr adds d to field f of the state (nothing for 0: Lua's -0 is not an
-- integer to HINCRBY).
local function incr(f, d)
  if d ~= 0 then redis.call('HINCRBY', S, f, d) end
end

-- lower keeps #d at or before a deadline just written to an index.
local function lower(t)
  local d = tonum(redis.call('HGET', S, '#d'))
  if not d or tonum(t) < d then redis.call('HSET', S, '#d', t) end
end

-- liveuntil writes node name's deadline to the expiry index.
local function liveuntil(name, exp)
  if redis.call('ZADD', EX, exp, name) == 1 then incr('#l', 1) end
  lower(exp)
end

local function init(prefix)
  P, S, EX, KX, KO = prefix, prefix .. ':s', prefix .. ':ex', prefix .. ':kx', prefix .. ':ko'
end

-- keylist parses a K\0N value into {id, channels, until} triples.
local function keylist(v)
  local out = {}
  if not v then return out end
  local pos = 1
  while pos <= #v do
    local a = find(v, '\0', pos, true)
    local b = find(v, '\0', a + 1, true)
    local c = find(v, '\0', b + 1, true)
    out[#out + 1] = {sub(v, pos, a - 1), tonum(sub(v, a + 1, b - 1)), tonum(sub(v, b + 1, c - 1))}
    pos = c + 1
  end
  return out
end

local function keystring(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k[1] .. '\0' .. k[2] .. '\0' .. k[3] .. '\0' end
  return table.concat(parts)
end

-- owner returns the KO member that owns key ID id (the first node by name).
local function owner(id)
  return redis.call('ZRANGEBYLEX', KO, '[' .. id .. '\0', '(' .. id .. '\1', 'LIMIT', 0, 1)[1]
end

-- credit adds sign times an owner member's channels to the totals.
local function credit(id, m, sign)
  if not m then return end
  local rest = sub(m, #id + 2)
  local sep = find(rest, '\0', 1, true)
  local ch = sign * tonum(sub(rest, sep + 1))
  incr('h\0' .. sub(rest, 1, sep - 1), ch)
  incr('#c', ch)
end

-- present adds (or withdraws) node name's key id of ch channels, moving the
-- key's channels to its new owner when the first presenter changes.
local function present(id, name, ch, add)
  local before = owner(id)
  local m = id .. '\0' .. name .. '\0' .. ch
  if add then redis.call('ZADD', KO, 0, m) else redis.call('ZREM', KO, m) end
  local after = owner(id)
  if before ~= after then
    credit(id, before, -1)
    credit(id, after, 1)
  end
end

-- addkeys counts a live node's keys: those already ended only as ended.
local function addkeys(name, keys, now)
  for _, k in ipairs(keys) do
    if k[3] > 0 and k[3] <= now then
      redis.call('HINCRBY', S, '#x', 1)
    else
      present(k[1], name, k[2], true)
      if k[3] > 0 then
        redis.call('ZADD', KX, k[3], name .. '\0' .. k[1])
        lower(k[3])
      end
    end
  end
end

-- dropkeys takes a node's keys out of the totals.
local function dropkeys(name, keys)
  for _, k in ipairs(keys) do
    if k[3] == 0 or redis.call('ZREM', KX, name .. '\0' .. k[1]) == 1 then
      present(k[1], name, k[2], false)
    else
      redis.call('HINCRBY', S, '#x', -1)
    end
  end
end

-- forget drops a node's fields and holdings (it is new, or lapsed), taking
-- what it counted out of the totals if it was live.
local function forget(name)
  if redis.call('ZREM', EX, name) == 1 then
    incr('#l', -1)
    local v = redis.call('HMGET', S, 'n\0' .. name, 'K\0' .. name, 'o\0' .. name, 'w\0' .. name)
    incr('#u', -(tonum(v[1]) or 0))
    incr('#o', -(tonum(v[3]) or 0))
    incr('#w', -(tonum(v[4]) or 0))
    dropkeys(name, keylist(v[2]))
  end
  redis.call('HDEL', S, 'e\0' .. name, 'n\0' .. name, 'o\0' .. name, 'w\0' .. name, 'K\0' .. name, 'h\0' .. name)
  redis.call('DEL', P .. ':c1:' .. name, P .. ':c:' .. name, P .. ':u:' .. name)
end

-- endkey stops counting the key of a "N\0ID" member whose end has come.
local function endkey(m)
  redis.call('ZREM', KX, m)
  local sep = find(m, '\0', 1, true)
  local name, id = sub(m, 1, sep - 1), sub(m, sep + 1)
  for _, k in ipairs(keylist(redis.call('HGET', S, 'K\0' .. name))) do
    if k[1] == id then present(id, name, k[2], false) end
  end
  redis.call('HINCRBY', S, '#x', 1)
end

-- sweep forgets the nodes whose expiry is not after now and ends the keys
-- whose end has come, both found by index, then moves #d to the first
-- deadline left.
local function sweep(now)
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', EX, '-inf', now)) do forget(name) end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KX, '-inf', now)) do endkey(m) end
  local a = redis.call('ZRANGE', EX, 0, 0, 'WITHSCORES')[2]
  local b = redis.call('ZRANGE', KX, 0, 0, 'WITHSCORES')[2]
  redis.call('HSET', S, '#d', math.min(tonum(a) or 9e15, tonum(b) or 9e15))
end
