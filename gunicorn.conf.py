"""Gunicorn settings for `gunicorn 'scenario-2:create_app()'` (read from this folder).

WEB_CONCURRENCY worker processes (Gunicorn's own convention; default 1), each with 8 threads.
Scenario 2's workers share their state through STATE_URL's store, so any number of them, on
one machine or many, act as one server.
"""

import sys

# Gunicorn reads every name here as a setting, so private names for anything else.
from settings import HINT as _HINT
from settings import read_environment as _read_environment

_env = _read_environment()
_workers = (_env.get("WEB_CONCURRENCY") or "1").strip()
if not _workers.isdigit() or not 1 <= int(_workers) <= 64:
    print(
        f"WEB_CONCURRENCY={_workers!r} is not allowed: give how many worker processes, 1 to 64;"
        f" one per CPU core is a good start ({_HINT})",
        file=sys.stderr,
    )
    sys.exit(2)
workers = int(_workers)
threads = 8
# Build the app in the master before forking the workers: the startup banner prints once, and a
# bad setting stops Gunicorn with exit status 2 instead of a worker rebooting every second.
preload_app = True
# Gunicorn 25+ also opens a control socket that can add workers at run time; WEB_CONCURRENCY,
# read once here, is the one place that says how many there are.
control_socket_disable = True
# Listen where the scripts do, so the printed URLs are right: HOST and PORT from .env or the
# environment (the scripts check their values and explain any mistake).
bind = f"{_env.get('HOST') or 'localhost'}:{_env.get('PORT') or 9000}"


def post_worker_init(worker):
    """Start-up objects (Flask, the SDK's models) need no collecting: freezing them spares the
    webhooks 40-50 ms garbage-collection pauses (measured with bench/run.py)."""
    import gc

    gc.freeze()
