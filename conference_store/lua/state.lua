local uuids = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
local legs = {}
if #uuids > 0 then legs = redis.call('HMGET', KEYS[1], unpack(uuids)) end
local meta = redis.call('HMGET', KEYS[3], 'started', 'streaming_on', 'music_note')
return {legs, meta[1], meta[2], meta[3]}
