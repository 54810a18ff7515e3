-- Records a leg the store does not know as a plain "join" leg: 1 if it did, 0 if it knew it.
-- ARGV: uuid, since, expired before, leg as JSON, MAX_LEGS.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local live = forget_expired(ARGV[3])
add(ARGV[1], ARGV[2], ARGV[4], 'join', live, tonumber(ARGV[5]))
return 1
