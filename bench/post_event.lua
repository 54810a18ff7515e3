-- wrk script: POST /webhooks/event with a JSON body, as Vonage sends events.
-- bench/run.py passes the body in EVENT_BODY (a leg that has "completed", the path where
-- scenario 2 takes its lock and forgets the leg); the default is for running wrk by hand.
-- The floor gets the same request and ignores it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("EVENT_BODY") or '{"uuid": "bench-leg", "status": "completed"}'
