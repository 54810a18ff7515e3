-- KEYS: pending, due. ARGV: now, now + lease. Claims and returns the due recordings' JSON.
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local found = {}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  found[#found + 1] = redis.call('HGET', KEYS[1], id)
end
return found
