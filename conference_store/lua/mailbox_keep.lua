-- KEYS: pending, due, urls, messages (sorted set id -> left_at), meta (hash id -> JSON),
-- audio key prefix. ARGV: id, audio, max messages.
-- Returns the ids dropped, oldest first, or false if the recording was not pending.
local pending = redis.call('HGET', KEYS[1], ARGV[1])
if not pending then return false end
local fields = cjson.decode(pending)
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], fields.url)
fields.url, fields.id, fields.attempts = nil, nil, nil
fields.size = string.len(ARGV[2])
redis.call('SET', KEYS[6] .. ARGV[1], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[1], cjson.encode(fields))
redis.call('ZADD', KEYS[4], fields.left_at, ARGV[1])
local dropped = {}
while redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[3]) do
  local oldest = redis.call('ZPOPMIN', KEYS[4])[1]
  redis.call('HDEL', KEYS[5], oldest)
  redis.call('DEL', KEYS[6] .. oldest)
  dropped[#dropped + 1] = oldest
end
return dropped
