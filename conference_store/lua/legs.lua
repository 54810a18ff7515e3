-- Shared by join.lua and answered.lua, which it is put before. KEYS: legs, order, meta.

-- Forgets the legs that joined before `expired_before`; once no one is left, the round is over.
-- Returns how many legs are left.
local function forget_expired(expired_before)
  local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. expired_before)
  for _, uuid in ipairs(expired) do redis.call('HDEL', KEYS[1], uuid) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. expired_before)
  local live = redis.call('ZCARD', KEYS[2])
  if live == 0 then redis.call('HDEL', KEYS[3], 'started') end
  return live
end

-- Adds a leg (JSON without its role) beside `live` others; past `max_legs`, forgets the oldest.
local function add(uuid, since, leg_json, role, live, max_legs)
  local leg = cjson.decode(leg_json)
  leg['role'] = role
  redis.call('HSET', KEYS[1], uuid, cjson.encode(leg))
  redis.call('ZADD', KEYS[2], since, uuid)
  if live + 1 > max_legs then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
    redis.call('ZREM', KEYS[2], oldest)
    redis.call('HDEL', KEYS[1], oldest)
  end
end
