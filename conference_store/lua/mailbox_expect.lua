-- KEYS: pending (hash id -> JSON), due (sorted set id -> next try), urls (hash url -> id)
-- ARGV: id, url, pending JSON. Returns the id the url has (a retried webhook keeps its own).
local known = redis.call('HGET', KEYS[3], ARGV[2])
if known then return known end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return ARGV[1]
