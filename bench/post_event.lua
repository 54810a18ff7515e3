-- POST /webhooks/event with EVENT_BODY as JSON, as Vonage sends events.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("EVENT_BODY") or '{"uuid": "bench-leg", "status": "completed"}'
