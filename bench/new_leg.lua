-- GET /webhooks/answer for a new call leg on every request: uuid=LEG_PREFIX-counter (wrk -t1).
local prefix, count = (os.getenv("LEG_PREFIX") or "leg") .. "-", 0

function request()
  count = count + 1
  return wrk.format(nil, wrk.path .. "&uuid=" .. prefix .. count)
end
