"""Gunicorn settings for `gunicorn 'scenario-2:create_app()'` (read from this folder).

Scenario 2 keeps its live legs in memory, so it must run as ONE process: many threads serve
webhooks at once, but a second worker would have its own, empty, list of callers.
"""

# Gunicorn reads every name here as a setting, so private names for anything else.
from settings import read_environment as _read_environment

workers = 1
threads = 8
# Build the app in the master before forking the worker: the startup banner prints once, and a
# bad setting stops Gunicorn with exit status 2 instead of a worker rebooting every second.
preload_app = True
# Gunicorn 25+ also opens a control socket that can add workers; one process is the rule here.
control_socket_disable = True
# Listen where the scripts do, so the printed URLs are right: HOST and PORT from .env or the
# environment (the scripts check their values and explain any mistake).
_env = _read_environment()
bind = f"{_env.get('HOST') or 'localhost'}:{_env.get('PORT') or 9000}"


def post_worker_init(worker):
    """Start-up objects (Flask, the SDK's models) need no collecting: freezing them spares the
    webhooks 40-50 ms garbage-collection pauses (measured with bench/run.py)."""
    import gc

    gc.freeze()
