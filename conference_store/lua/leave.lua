redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[3], 'streaming_on') == ARGV[1] then
  redis.call('HDEL', KEYS[3], 'streaming_on')
end
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('HDEL', KEYS[3], 'started') end
