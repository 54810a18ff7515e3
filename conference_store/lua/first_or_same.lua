local seen = redis.call('GET', KEYS[1])
if seen then return seen == ARGV[1] and 1 or 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
