"""Gunicorn settings for `gunicorn 'scenario-2:create_app()'` and `python serve.py` (read from
this folder).

WEB_CONCURRENCY worker processes (Gunicorn's own convention; default 1), each with 8 threads,
listening on HOST:PORT, each checked first as the development server checks them. Scenario 2's
workers share their state through STATE_URL's store, so any number of them, on one machine or
many, act as one server.
"""

import sys

# Gunicorn reads every name here as a setting, so private names for anything else.
import settings as _config
import startup as _startup

_env = _config.read_environment()
_values, _problems = {}, []
for _name in ("HOST", "PORT", "WEB_CONCURRENCY"):
    _values[_name], _problem = _config.check(_config.variable(_name), _env)
    _problems += [_problem] if _problem else []
if _problems:
    print(*_problems, sep="\n", file=sys.stderr)
    sys.exit(2)
_host, _port = _values["HOST"] or "localhost", _values["PORT"] or 9000
# One clear line, not five retries over five seconds, when HOST:PORT cannot be listened on.
_startup.exit_unless_can_listen(_config.Settings(host=_host, port=_port))

bind = f"{_host}:{_port}"
workers = _values["WEB_CONCURRENCY"] or 1
threads = 8
# One line per request in Gunicorn's own format, on stdout, as the development server logs
# (`?token=` hidden and /healthz left out: webhooks.init_app).
accesslog = "-"
# Build the app in the master before forking the workers: the startup banner prints once, and a
# bad setting stops Gunicorn with exit status 2 instead of a worker rebooting every second.
preload_app = True
# Gunicorn 25+ also opens a control socket that can add workers at run time; WEB_CONCURRENCY,
# read once here, is the one place that says how many there are.
control_socket_disable = True


def post_worker_init(worker):
    """Start-up objects (Flask, the SDK's models) never need collecting: freezing them spares
    the webhooks the collector's pauses."""
    import gc

    gc.freeze()
