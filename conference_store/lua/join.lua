-- Records a new leg and returns its role, counted as ConferenceStore._role counts it.
-- KEYS: legs, order, meta. ARGV: uuid, since, expired before, leg as JSON, quorum (0: none),
-- MAX_LEGS.
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then return cjson.decode(known)['role'] end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
for _, uuid in ipairs(expired) do redis.call('HDEL', KEYS[1], uuid) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local live = redis.call('ZCARD', KEYS[2])
if live == 0 then redis.call('HDEL', KEYS[3], 'started') end
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
local leg = cjson.decode(ARGV[4])
leg['role'] = role
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(leg))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if live + 1 > tonumber(ARGV[6]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('HDEL', KEYS[1], oldest)
end
return role
