-- KEYS: messages, meta, audio key prefix. ARGV: left_at. Deletes the messages left at or
-- before it; returns how many.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('DEL', KEYS[3] .. id)
end
return #ids
