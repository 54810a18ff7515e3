-- wrk script: GET /webhooks/answer for a new call leg on every request, as Vonage sends it
-- when a new caller dials in, so scenario 2 records every one in its store.
-- The uuid is LEG_PREFIX (bench/run.py gives each wrk run its own), then the wrk thread's
-- number and a counter: unique across connections, threads, runs and stores. The URL given to
-- wrk carries the call's other fields (its query string); the floor gets the same requests and
-- ignores them.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  -- thread_number is unset when wrk runs this script without setup (it never does so today).
  prefix = (os.getenv("LEG_PREFIX") or "leg") .. "-" .. (thread_number or 1) .. "-"
  separator = string.find(wrk.path, "?", 1, true) and "&" or "?"
  count = 0
end

function request()
  count = count + 1
  return wrk.format(nil, wrk.path .. separator .. "uuid=" .. prefix .. count)
end
