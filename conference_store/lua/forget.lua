-- Forgets every leg, where the music plays and the quorum round; returns how many live legs
-- (joined at or after ARGV[1]) it forgot.
local live = redis.call('ZCOUNT', KEYS[2], ARGV[1], '+inf')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return live
