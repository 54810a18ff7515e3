"""Whose cost is an answer webhook? `python bench/answer_cost.py [--answers N]`

run.py measures whole servers. This splits one answer's CPU time between Flask, our code and
the store: it calls the WSGI apps directly in one thread (no server, no socket, no other
thread), with a new leg on every answer as under run.py's load, and reports the CPU µs per
answer (user + system, of this process; for Redis also redis-server's own):

- the floor (floor_app.py: Flask returning the same bytes, reading nothing);
- scenario 2 with its store left out (every caller joins, unrecorded): our code alone;
- scenario 2 on an SQLite file and on a redis-server this script starts, with 10 legs live
  (a conference; each answer's leg hangs up ten answers later, untimed) and with MAX_LEGS live
  (where run.py's load keeps the store, as would a flood of fake calls).

The differences are what each part adds. It prints a Markdown table; bench/README.md cites it.
"""

import argparse
import importlib
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the project's modules, as the servers import them

import floor_app  # noqa: E402
from run import ANSWER, APPLICATION_ID, RUN_TOKEN, markdown_table, write_private_key  # noqa: E402
from servers import RedisServer  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402

import conference_store  # noqa: E402
import settings as config  # noqa: E402

LIVE_IN_A_CONFERENCE = 10


def main(argv=None):
    parser = argparse.ArgumentParser(description="CPU per answer webhook, part by part.")
    parser.add_argument("--answers", type=int, default=3000, help="timed answers per row")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="bench-cost-") as name,
        RedisServer(Path(name)) as redis,
    ):
        folder = Path(name)
        key = write_private_key(folder).read_text()
        scenario2 = importlib.import_module("scenario-2")

        def app(state_url):
            settings = config.Settings(
                application_id=APPLICATION_ID, private_key=key, state_url=state_url
            )
            return scenario2.create_app(settings)

        sqlite_url = f"sqlite:///{folder}/conference.sqlite3"
        stubbed = app(f"sqlite:///{folder}/unused.sqlite3")
        stubbed.extensions["conference"].joined = lambda *args, **kwargs: "join"
        body = stubbed.test_client().get(f"{ANSWER}&uuid=bench-leg").data
        os.environ["FLOOR_BODY"] = body.hex()
        rows = [
            ("floor (Flask, same bytes)", floor_app.create_app(), None, None),
            ("scenario 2, store left out", stubbed, None, None),
        ]
        for store, url, process in (("SQLite", sqlite_url, None), ("Redis", None, redis)):
            for live in (LIVE_IN_A_CONFERENCE, conference_store.MAX_LEGS):
                each = app(url or redis.fresh_url())
                rows.append((f"scenario 2, {store}, {live} legs live", each, live, process))

        results, floor_cpu = [], None
        for label, wsgi, live, process in rows:
            cpu, store_cpu = answer_cpu_us(wsgi, args.answers, live, process)
            floor_cpu = floor_cpu or cpu
            results.append(
                [
                    label,
                    f"{cpu:.0f}",
                    f"{cpu - floor_cpu:+.0f}",
                    "-" if store_cpu is None else f"{store_cpu:.0f}",
                ]
            )
            print(f"{label}: {cpu:.0f} µs", file=sys.stderr, flush=True)
    print(
        markdown_table(
            ["answer webhook", "CPU µs", "over the floor", "redis-server CPU µs"], results
        )
    )
    return 0


def answer_cpu_us(wsgi, answers, live, store_process):
    """Mean CPU µs of this process per answer, after a warm-up that brings the store to `live`
    legs; with `live` below MAX_LEGS, each leg hangs up (untimed) once `live` newer ones have
    joined. And `store_process`'s CPU µs per answer, or None if hang-ups were mixed in."""
    conference = wsgi.extensions.get("conference") if live else None
    prefix = f"{RUN_TOKEN}-cost-{id(wsgi)}"
    legs = [f"{prefix}-{n}" for n in range(live + answers)] if live else ["-"] * answers
    path, query = ANSWER.split("?", 1)
    environs = [
        EnvironBuilder(path=path, query_string=f"{query}&uuid={leg}").get_environ() for leg in legs
    ]
    for environ in environs[: live or 100]:  # the warm-up: the store at `live` legs
        call(wsgi, environ)
    timed = environs[live or 100 :] if live else environs[:answers]
    spent = 0.0
    store_before = store_process.cpu_seconds() if store_process else 0
    for n, environ in enumerate(timed):
        started = time.process_time()
        call(wsgi, environ)
        spent += time.process_time() - started
        if live and live < conference_store.MAX_LEGS:
            conference.left(legs[n])  # the leg `live` answers ago hangs up
    store_cpu = None
    if store_process and not (live and live < conference_store.MAX_LEGS):
        store_cpu = (store_process.cpu_seconds() - store_before) / len(timed) * 1e6
    return spent / len(timed) * 1e6, store_cpu


def call(wsgi, environ):
    status = []
    for _ in wsgi(environ, lambda code, headers, exc_info=None: status.append(code)):
        pass
    if not status[0].startswith("200"):
        raise SystemExit(f"the answer webhook got {status[0]}")


if __name__ == "__main__":
    sys.exit(main())
