-- Forgets a leg that has ended; if the music played on it and follows until after now, moves
-- it to the newest live leg and returns {that leg as JSON, the music as JSON}; else nil.
-- ARGV: uuid, now, expired before, the note when the music ends with its caller.
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('HDEL', KEYS[3], 'started') end
if redis.call('HGET', KEYS[3], 'streaming_on') ~= ARGV[1] then return false end
local newest = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', ARGV[3], 'LIMIT', 0, 1)[1]
local follow_until = tonumber(redis.call('HGET', KEYS[3], 'follow_until') or '0')
if newest and tonumber(ARGV[2]) < follow_until then
  redis.call('HSET', KEYS[3], 'streaming_on', newest)
  return {redis.call('HGET', KEYS[1], newest), redis.call('HGET', KEYS[3], 'music')}
end
redis.call('HDEL', KEYS[3], 'streaming_on', 'music', 'follow_until')
if newest then redis.call('HSET', KEYS[3], 'music_note', ARGV[4]) end
return false
