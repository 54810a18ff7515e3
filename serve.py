"""Serve a scenario on Gunicorn, for production: `python serve.py scenario-2`.

Gunicorn parses WEB_CONCURRENCY itself while it is imported (gunicorn/config.py:
`int(os.environ.get("WEB_CONCURRENCY", 1))`), before any config file runs, so a bad or empty
value there ends in its traceback. This checks it first, with one line and exit status 2,
treats an empty value as unset, then runs Gunicorn's own command line, which reads
gunicorn.conf.py as `gunicorn 'scenario-2:create_app()'` does. Options after the scenario's
name go to Gunicorn.
"""

import os
import sys

import settings as config

SCENARIOS = ("scenario-1", "scenario-2", "scenario-3")


def main(argv):
    usage = f"usage: python serve.py {{{','.join(SCENARIOS)}}} [GUNICORN OPTIONS]"
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    scenario, *options = argv or [""]
    if scenario.removesuffix(".py") not in SCENARIOS:
        print(usage, file=sys.stderr)
        return 2
    if not os.environ.get("WEB_CONCURRENCY", "x").strip():
        del os.environ["WEB_CONCURRENCY"]  # empty means the default, as everywhere else here
    _, problem = config.check(config.variable("WEB_CONCURRENCY"), os.environ)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from gunicorn.app.wsgiapp import run  # only now: importing it reads WEB_CONCURRENCY

    here = str(config.PROJECT_DIR)
    sys.argv = [
        "gunicorn",
        *("--chdir", here, "--config", os.path.join(here, "gunicorn.conf.py")),
        *options,
        f"{scenario.removesuffix('.py')}:create_app()",
    ]
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
