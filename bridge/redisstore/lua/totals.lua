-- KEYS: state
-- ARGV: prefix, self, now
-- The product's totals over its live nodes, brought up to now like a
-- decision's (a sweep only once a deadline has come): one HMGET, then one
-- more for the passive and wire totals, whatever the number of nodes and
-- keys. Returns {known, units, cluster channels, ended keys, self live,
-- self's units, self's own channels, live nodes, passive, wire}; known is 0
-- and nothing is written when the product has no state.
init(ARGV[1])
if redis.call('EXISTS', S) == 0 then return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0} end
local v = prepare(tonumber(ARGV[3]), ARGV[2])
local t = redis.call('HMGET', S, '#o', '#w')
local self = 0
if v[5] then self = 1 end
return {1, tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0, self,
  tonumber(v[6]) or 0, tonumber(v[7]) or 0, live(v), tonumber(t[1]) or 0, tonumber(t[2]) or 0}
