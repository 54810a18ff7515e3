-- KEYS: pending, due, urls. ARGV: id, url. Forgets a pending recording.
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[2])
