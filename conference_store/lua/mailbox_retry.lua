-- KEYS: pending, due. ARGV: id, when, attempts. Sets when a download is tried again.
local pending = redis.call('HGET', KEYS[1], ARGV[1])
if not pending then return 0 end
local fields = cjson.decode(pending)
fields.attempts = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(fields))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
