-- KEYS: the node's owner key
-- ARGV: instance, now_ms, expires_ms, gc_ms, force ('1': take it over from a
-- holder known to be dead, an earlier run of this very process)
-- One node ID, one process: the key holds "expires_ms instance". A claim by
-- another instance while the holder's claim has not expired (by the caller's
-- clock) returns the holder's "expires_ms instance"; otherwise the claim is
-- taken or renewed and '' is returned.
local cur = redis.call('GET', KEYS[1])
if cur and ARGV[5] ~= '1' then
  local sp = string.find(cur, ' ', 1, true)
  local exp, who = tonumber(string.sub(cur, 1, sp - 1)), string.sub(cur, sp + 1)
  if who ~= ARGV[1] and exp > tonumber(ARGV[2]) then return cur end
end
redis.call('SET', KEYS[1], ARGV[3] .. ' ' .. ARGV[1], 'PX', ARGV[4])
return ''
