-- KEYS: state
-- ARGV: prefix, node, count
-- Sets node's passive count. It does not register the node: the count is
-- kept beside a node that is not live, and #o moves only while the node is
-- live (forget takes its count out when it lapses). HGET, HSET, ZSCORE and
-- at most one HINCRBY, whatever the number of nodes.
init(ARGV[1])
local f = 'o\0' .. ARGV[2]
local was = tonumber(redis.call('HGET', S, f)) or 0
redis.call('HSET', S, f, ARGV[3])
if redis.call('ZSCORE', EX, ARGV[2]) then incr('#o', tonumber(ARGV[3]) - was) end
return 1
