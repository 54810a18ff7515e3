-- GET /webhooks/answer for a new call leg on every request: uuid=LEG_PREFIX-thread-counter.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  prefix = (os.getenv("LEG_PREFIX") or "leg") .. "-" .. (thread_number or 1) .. "-"
  separator = string.find(wrk.path, "?", 1, true) and "&" or "?"
  count = 0
end

function request()
  count = count + 1
  return wrk.format(nil, wrk.path .. separator .. "uuid=" .. prefix .. count)
end
