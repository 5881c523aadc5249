-- KEYS: the key's activations hash (host ID -> ms)
-- ARGV: host ID, max hosts, now ms
-- Returns {ok, {host, ms, ...}}.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) then
    return {0, redis.call('HGETALL', KEYS[1])}
  end
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
end
return {1, redis.call('HGETALL', KEYS[1])}
