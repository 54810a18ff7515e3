if ARGV[1] == '' then
  redis.call('HDEL', KEYS[3], 'streaming_on')
elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[3], 'streaming_on', ARGV[1])
end
