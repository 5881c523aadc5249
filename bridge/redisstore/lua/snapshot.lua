-- KEYS: state
-- ARGV: prefix, now
-- Brings the state up to now (lapsed nodes swept, ended keys ended, an older
-- layout rebuilt) so that the state hash, read next, is the live nodes'.
init(ARGV[1])
prepare(tonumber(ARGV[2]), '')
return 1
