-- Records a new leg and returns its role, counted as ConferenceStore._role counts it.
-- ARGV: uuid, since, expired before, leg as JSON, quorum (0: none), MAX_LEGS.
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then return cjson.decode(known)['role'] end
local live = forget_expired(ARGV[3])
local quorum = tonumber(ARGV[5])
local role = 'join'
if quorum > 0 and redis.call('HGET', KEYS[3], 'started') ~= '1' then
  if live + 1 >= quorum then
    role = 'start'
    redis.call('HSET', KEYS[3], 'started', '1')
  else
    role = 'wait'
  end
end
add(ARGV[1], ARGV[2], ARGV[4], role, live, tonumber(ARGV[6]))
return role
