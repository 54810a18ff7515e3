-- ARGV: uuid ('': nowhere), the music as JSON, follow until, note ('': none).
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[3], 'streaming_on', 'music', 'follow_until')
  if ARGV[4] == '' then
    redis.call('HDEL', KEYS[3], 'music_note')
  else
    redis.call('HSET', KEYS[3], 'music_note', ARGV[4])
  end
elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[3], 'streaming_on', ARGV[1], 'music', ARGV[2], 'follow_until', ARGV[3])
  redis.call('HDEL', KEYS[3], 'music_note')
end
