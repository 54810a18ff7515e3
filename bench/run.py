"""The webhook benchmark: `python bench/run.py [--quick] [--json PATH]`.

Each scenario runs as a real process on Flask's development server (`python scenario-N.py`,
what the tutorial runs) and on Gunicorn (the README's production command, with the project's
gunicorn.conf.py), each beside its floor: a bare Flask app returning the same bytes on the
same kind of server (floor_app.py). Scenario 2 runs once with its state in an SQLite file
(STATE_URL's default) and once in a real redis-server that this benchmark starts; every server
gets a fresh store. Then, over loopback:

1. wrk drives GET /webhooks/answer, with a new call leg on every request (new_leg.lua: scenario
   2 records each one), and POST /webhooks/event at 1, 16 and 64 connections, the floor and the
   scenario in turn, for a fixed time each (see loadgen.py for why);
2. /stream is timed against a fake Voice API that answers after 50 ms (scenario 2);
3. each server's time from spawn to its first answered webhook, and its peak memory;
4. a soak of 2,000 simulated calls through scenario 2, after which no leg may be live;
5. scenario 2 on Gunicorn with 2 workers against 1 (WEB_CONCURRENCY), beside floors with as many;
6. 50 rounds of 12 simultaneous callers with QUORUM=3 through 2 scenario-2 processes sharing
   one store (two development servers, or Gunicorn's 2 workers): each round must give exactly
   2 callers hold music, 1 the start, and 9 a plain join.

It prints Markdown tables and writes JSON (bench/results.json unless --json says otherwise).
Targets are PASS or MISS; the exit status is non-zero only if something could not be measured.
--quick runs every part, small, for CI: one concurrency level, 1 s runs, 200 calls, 5 rounds,
and fewer servers (each store and each kind of server still runs).
"""

import argparse
import datetime
import itertools
import json
import math
import os
import platform
import random
import secrets
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from http.client import HTTPConnection, HTTPSConnection
from importlib import metadata
from pathlib import Path

import loadgen
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fake_voice_api import FakeVoiceApi
from servers import PROJECT_VARIABLES, CouldNotMeasure, RedisServer, Server, command, session

BENCH = Path(__file__).resolve().parent

SERVERS = [  # label, module, server kind, scenario 2's store
    ("scenario-1 dev", "scenario-1", "dev", None),
    ("scenario-1 gunicorn", "scenario-1", "gunicorn", None),
    ("scenario-2 dev sqlite", "scenario-2", "dev", "sqlite"),
    ("scenario-2 dev redis", "scenario-2", "dev", "redis"),
    ("scenario-2 gunicorn sqlite", "scenario-2", "gunicorn", "sqlite"),
    ("scenario-2 gunicorn redis", "scenario-2", "gunicorn", "redis"),
]
QUORUM_SETUPS = [  # label, server kind (two dev servers, or one Gunicorn with 2 workers), store
    ("2 dev servers, sqlite", "dev", "sqlite"),
    ("2 dev servers, redis", "dev", "redis"),
    ("gunicorn 2 workers, sqlite", "gunicorn", "sqlite"),
    ("gunicorn 2 workers, redis", "gunicorn", "redis"),
]

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
CALLER = {"from": "447700900000", "to": "447700900001", "conversation_uuid": "CON-bench"}
# What Vonage sends: the answer webhook as GET with the call in the query string, events as
# POST with JSON. Under load, new_leg.lua adds a new uuid to ANSWER on every request, as a new
# caller would: scenario 2 records each one (and, once MAX_LEGS are live, forgets the oldest).
ANSWER = "/webhooks/answer?" + "&".join(f"{k}={v}" for k, v in CALLER.items())
EVENT = "/webhooks/event"
EVENT_BODY = {
    "uuid": "bench-leg",
    "status": "completed",
    "direction": "inbound",
    "timestamp": "2024-01-01T00:00:00.000Z",
    "duration": "42",
    **CALLER,
}
POST_EVENT = BENCH / "post_event.lua"
NEW_LEG = BENCH / "new_leg.lua"
# Each wrk run's legs start with this run's token and the run's number: unique across runs.
RUN_TOKEN = secrets.token_hex(4)
LEG_PREFIXES = (f"{RUN_TOKEN}-{n}" for n in itertools.count(1))
# What scenario 2 logs when its store failed and a caller joined without being recorded.
UNRECORDED = "joins without the store's word"

API_DELAY = 0.050  # seconds the fake Voice API takes to answer
NO_ONE_HERE = "no one is in the conference yet"  # scenario 2's 409 when no leg is live
SOAK_CALLERS = 32
SEED = 2023  # the soak's order is random, but the same every run
SETTLE = 0.2  # seconds between wrk runs, for the server to finish requests wrk abandoned
QUORUM = 3
CALLERS_PER_ROUND = 12
# Each round's roles with QUORUM=3: the first two hear hold music, the third starts it.
RIGHT_ROUND = {"wait": QUORUM - 1, "start": 1, "join": CALLERS_PER_ROUND - QUORUM}

# The targets.
ANSWER_RPS_VS_FLOOR = 0.9  # scenario 1
P99_VS_FLOOR = 1.2  # scenario 1
RECORDED_RPS_VS_FLOOR = 0.85  # scenario 2, a new leg recorded in its store on every answer
RECORDED_P99_VS_FLOOR = 1.3  # scenario 2, likewise
PRODUCTION_VS_DEV = 1.5
TWO_WORKERS_VS_ONE = 1.4
STREAM_P50_MS = 3.0
STARTUP_S = 1.5
MEMORY_MB = 80


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    servers: tuple = tuple(label for label, *_ in SERVERS)
    connections: tuple = (1, 16, 64)
    # The wrk runs for each route and concurrency, in this order. Floor, app, app, floor
    # cancels a drift in the machine's speed (another process, a CPU clock) out of the ratio.
    order: tuple = ("floor", "app", "app", "floor")
    seconds: int = 2  # each wrk run
    warmup_seconds: int = 1  # per route and server before its runs, not reported
    starts: int = 3  # startup is reported as the median and worst of this many starts
    stream_samples: int = 100
    soak_calls: int = 2000
    scaling_stores: tuple = ("sqlite", "redis")  # 2 Gunicorn workers vs 1, with each store
    quorum_setups: tuple = tuple(label for label, *_ in QUORUM_SETUPS)
    quorum_rounds: int = 50


FULL = Plan()
# Every part, small, in about 35 s: each store and each kind of server once; scenario 1 on
# Gunicorn, scenario 2 on the other pairs and Redis for the worker scaling add nothing the
# others do not test.
QUICK = Plan(
    servers=("scenario-1 dev", "scenario-2 dev sqlite", "scenario-2 gunicorn redis"),
    connections=(16,),
    order=("floor", "app"),
    seconds=1,
    warmup_seconds=0,
    starts=1,
    stream_samples=10,
    soak_calls=200,
    scaling_stores=("sqlite",),
    quorum_setups=("2 dev servers, sqlite", "gunicorn 2 workers, redis"),
    quorum_rounds=5,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Benchmark the webhook servers.")
    parser.add_argument(
        "--quick", action="store_true", help="every part, small: a few seconds, for CI"
    )
    parser.add_argument(
        "--json", type=Path, default=BENCH / "results.json", help="where to write the results"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL

    wrk = loadgen.wrk_version()
    if wrk is None:
        print("could not measure: wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 1
    started, load_before = time.monotonic(), os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            measured = measure(plan, Path(folder))
    except CouldNotMeasure as error:
        print(f"could not measure: {error}", file=sys.stderr)
        return 1
    results = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(wrk),
        # Other work on the machine skews the numbers: the 1-minute load before and after.
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "plan": asdict(plan) | {"quick": args.quick},
        **measured,
    }
    results["targets"] = judge(results, plan)
    results["seconds"] = round(time.monotonic() - started, 1)
    print(report(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nWrote {args.json} in {results['seconds']} s.")
    return 0


def progress(message):
    print(message, file=sys.stderr, flush=True)


def measure(plan, folder):
    """Every part's numbers; `folder` holds the key, the certificates, the stores and logs."""
    wanted = [store for label, _, _, store in SERVERS if label in plan.servers]
    wanted += [store for label, _, store in QUORUM_SETUPS if label in plan.quorum_setups]
    with ExitStack() as running:
        fake = FakeVoiceApi(folder, delay=API_DELAY)
        running.callback(fake.stop)
        redis = None
        if "redis" in wanted or "redis" in plan.scaling_stores:
            redis = running.enter_context(RedisServer(folder))
        env = server_environment(write_private_key(folder), fake)
        stores = Stores(folder, redis)
        servers = {
            label: measure_server(plan, label, module, kind, env, stores.fresh(store), fake, folder)
            for label, module, kind, store in SERVERS
            if label in plan.servers
        }
        scaling = {store: scale(plan, store, env, stores, folder) for store in plan.scaling_stores}
        quorum = {
            label: quorum_rounds(plan, label, kind, env, stores.fresh(store), folder)
            for label, kind, store in QUORUM_SETUPS
            if label in plan.quorum_setups
        }
        return {
            "stores": {
                "redis": redis.version() if redis else None,
                "sqlite": sqlite3.sqlite_version,
            },
            "servers": servers,
            "scaling": scaling,
            "quorum": quorum,
        }


class Stores:
    """A fresh store for each server: scenario 2's STATE_URL and what to read its CPU from."""

    def __init__(self, folder, redis):
        self.folder, self.redis, self.count = folder, redis, 0

    def fresh(self, store):
        """(STATE_URL, the store's own process or None) for "sqlite", "redis" or None."""
        self.count += 1
        if store == "sqlite":  # in this run's folder, never the project's own file
            return f"sqlite:///{self.folder}/conference-{self.count}.sqlite3", None
        if store == "redis":
            return self.redis.fresh_url(), self.redis
        return "", None


def write_private_key(folder):
    """A key for this run only, as a file, as a user saves private.key; never committed."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "private.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def server_environment(key_file, fake):
    """This environment, with every project variable set, and nothing that changes Flask or
    Gunicorn from what the README runs (FLASK_DEBUG, GUNICORN_CMD_ARGS)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("FLASK_") and name != "GUNICORN_CMD_ARGS"
    }
    env.update(dict.fromkeys(PROJECT_VARIABLES, ""))
    env.update(
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        VONAGE_API_HOST=fake.host,
        REQUESTS_CA_BUNDLE=str(fake.ca_file),  # how scenario 2 trusts the fake's certificate
        NO_PROXY="127.0.0.1",
        WEB_CONCURRENCY="1",  # gunicorn.conf.py's default, said here: Gunicorn refuses it empty
    )
    return env


def slug(label):
    return label.replace(" ", "-").replace(",", "")


def measure_server(plan, label, module, kind, env, store, fake, folder):
    """Start one scenario on one kind of server, and its floor, and measure them.

    `store` is (STATE_URL, the store's process or None): every start of this server uses it.
    """
    log, floor_log = folder / f"{slug(label)}.log", folder / f"{slug(label)}-floor.log"
    env = {**env, "STATE_URL": store[0]}
    argv = command(kind, module)
    progress(f"{label}: starting {plan.starts} time(s)")
    startups = []
    for _ in range(plan.starts - 1):  # extra starts, for the startup time alone
        with Server(label, argv, env, log) as server:
            startups.append(server.startup)
    with ExitStack() as running:
        app = running.enter_context(Server(label, argv, env, log))
        startups.append(app.startup)
        floor = running.enter_context(floor_for(app, kind, env, floor_log))

        result = {
            "command": " ".join(argv[1:]),
            "store": store[0].split(":")[0] or None,
            "startup_s": startups,
            "floor_startup_s": floor.startup,
        }
        if module == "scenario-2":
            # Before the load, which leaves the store full of legs: /stream with one leg live,
            # and the soak from an empty store.
            progress(f"{label}: /stream and the soak")
            result["stream"] = time_stream(plan, app, floor, fake)
            result["soak"] = soak(plan, app, fake)
        result["load"] = load(plan, label, app, floor, store[1])
        result["memory_mb"] = app.memory_mb()
        result["floor_memory_mb"] = floor.memory_mb()
    return result


def floor_for(app, kind, env, log):
    """The floor for `app`, on the same kind of server, once it returns the app's very bytes."""
    answer, event = responses(app)
    floor_env = {**env, "FLOOR_BODY": answer[0].hex(), "FLOOR_CONTENT_TYPE": answer[1]}
    floor = Server(f"{app.label} floor", command(kind, "floor_app", floor=True), floor_env, log)
    if responses(floor) != (answer, event):
        floor.stop()
        raise CouldNotMeasure(f"{app.label}: the floor does not return the scenario's bytes")
    return floor


def responses(server):
    """(body, content type) of the answer and event webhooks, as the load will send them.

    The answer's leg is the one the event then ends, so scenario 2 is left with no live leg.
    """
    http = session()
    answer = http.get(server.url(f"{ANSWER}&uuid={EVENT_BODY['uuid']}"), timeout=5)
    event = http.post(server.url(EVENT), json=EVENT_BODY, timeout=5)
    for response in (answer, event):
        if response.status_code != 200:
            raise CouldNotMeasure(f"{server.label}: {response.url} got {response.status_code}")
    return tuple((r.content, r.headers["Content-Type"]) for r in (answer, event))


def load(plan, label, app, floor, store_process=None):
    """wrk on each route at each concurrency, the floor and the app in turn (plan.order).

    Each answer is a new leg (new_leg.lua). `store_process` (redis-server) has its CPU time per
    request read too, over the app's runs: what each request costs the store itself.
    """
    rows = []
    routes = [("answer", ANSWER, NEW_LEG), ("event", EVENT, POST_EVENT)]
    for route, path, script in routes:
        if plan.warmup_seconds:
            for server in (floor, app):
                drive(server, path, 16, plan.warmup_seconds, script)
        for connections in plan.connections:
            progress(f"{label}: {route} at {connections} connection(s)")
            runs = {"floor": [], "app": []}
            for name in plan.order:
                server, store = (app, store_process) if name == "app" else (floor, None)
                runs[name].append(drive(server, path, connections, plan.seconds, script, store))
            runs = {name: combine(each) for name, each in runs.items()}
            rows.append(
                {
                    "route": route,
                    "connections": connections,
                    **runs,
                    "rps_vs_floor": runs["app"]["rps"] / runs["floor"]["rps"],
                    "cpu_vs_floor": runs["app"]["cpu_us"] / runs["floor"]["cpu_us"],
                    "p99_vs_floor": runs["app"]["p99_ms"] / runs["floor"]["p99_ms"],
                }
            )
    return rows


def drive(server, path, connections, seconds, script, store_process=None):
    """One wrk run on `server`, with the server's CPU µs per request (and the store's, if it
    runs apart), and how many callers it logged as joining unrecorded."""
    env = {"EVENT_BODY": json.dumps(EVENT_BODY), "LEG_PREFIX": next(LEG_PREFIXES)}
    cpu, offset = server.cpu_seconds(), server.log_size()
    store_cpu = store_process.cpu_seconds() if store_process else 0
    run = loadgen.drive(server.url(path), connections, seconds, script, env)
    time.sleep(SETTLE)  # within the CPU time: the server is finishing wrk's requests
    run["cpu_us"] = (server.cpu_seconds() - cpu) / run["requests"] * 1e6
    if store_process:
        run["store_cpu_us"] = (store_process.cpu_seconds() - store_cpu) / run["requests"] * 1e6
    run["unrecorded"] = server.log_since(offset).count(UNRECORDED)
    return run


def combine(runs):
    """One side's runs as one: all requests over all seconds, and the mean of each percentile."""
    requests_made = sum(run["requests"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    combined = {
        "requests": requests_made,
        "seconds": seconds,
        "rps": requests_made / seconds,
        "p50_ms": sum(run["p50_ms"] for run in runs) / len(runs),
        "p99_ms": sum(run["p99_ms"] for run in runs) / len(runs),
        "cpu_us": sum(run["cpu_us"] * run["requests"] for run in runs) / requests_made,
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(run["socket_errors"] for run in runs),
        "unrecorded": sum(run["unrecorded"] for run in runs),
        "runs": runs,
    }
    if all("store_cpu_us" in run for run in runs):
        combined["store_cpu_us"] = (
            sum(run["store_cpu_us"] * run["requests"] for run in runs) / requests_made
        )
    return combined


def errors(side):
    """Requests that failed, and answers whose leg the store could not record."""
    return side["non_2xx"] + side["socket_errors"] + side["unrecorded"]


def time_stream(plan, app, floor, fake):
    """/stream's time above the Voice API's own, in ms: what the server adds to the 50 ms.

    The API's own time is the fake's as a client sees it (its 50 ms, plus its TLS and Python
    HTTP handling, about 1 ms): a PUT straight to it, timed in turn with each /stream by the
    same minimal keep-alive client (http.client), so neither the client's cost nor the fake's
    is counted as the server's. The first /stream after start is reported apart: it also
    opens the TLS connection and signs the JWT that the next calls reuse.

    A request to the floor, timed in turn too, is the round trip any webhook costs on this
    server and machine when requests come one at a time with pauses between them, as here.
    """
    session().get(app.url("/webhooks/answer"), params={"uuid": "stream-leg", **CALLER}, timeout=5)
    before = fake.counts()
    server = HTTPConnection("127.0.0.1", app.port, timeout=20)
    host, port = fake.host.split(":")
    context = ssl.create_default_context(cafile=str(fake.ca_file))
    api = HTTPSConnection(host, int(port), context=context, timeout=20)
    bare = HTTPConnection("127.0.0.1", floor.port, timeout=20)
    first = stream_ms(server)
    api_times, stream_times, floor_times = [], [], []
    for _ in range(plan.stream_samples):
        api_times.append(direct_put_ms(api))
        stream_times.append(stream_ms(server))
        floor_times.append(floor_ms(bare))
    for connection in (server, api, bare):
        connection.close()
    session().post(app.url(EVENT), json={"uuid": "stream-leg", "status": "completed"}, timeout=5)
    own = percentile(api_times, 50)
    requests_to_api = counts_since(before, fake.counts())
    empty = legs_empty(app)
    return {
        "api_p50_ms": own,
        "first_ms": first - own,
        "p50_ms": percentile(stream_times, 50) - own,
        "p99_ms": percentile(stream_times, 99) - own,
        "p50_above_50_ms": percentile(stream_times, 50) - API_DELAY * 1000,
        "floor_round_trip_p50_ms": percentile(floor_times, 50),
        "samples": len(stream_times),
        "api_requests": requests_to_api,
        "legs_empty_after": empty,
        # Each /stream made exactly one API call, each direct PUT one, and nothing else came.
        "ok": empty and requests_to_api == {"stream": 1 + 2 * plan.stream_samples},
    }


def timed_ms(connection, method, path, what, body=None, headers=None):
    """One request on a kept-alive connection: (milliseconds, body); CouldNotMeasure unless 200."""
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    answer = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise CouldNotMeasure(f"{what} answered {response.status}: {answer[:300]!r}")
    return elapsed, answer


def stream_ms(connection):
    elapsed, body = timed_ms(connection, "GET", "/stream", "/stream")
    if json.loads(body).get("uuid") != "stream-leg":
        raise CouldNotMeasure(f"/stream played on another leg: {body[:300]!r}")
    return elapsed


def floor_ms(connection):
    return timed_ms(connection, "GET", ANSWER, "the floor")[0]


def direct_put_ms(connection):
    """A stream start sent straight to the fake API, as the SDK sends it."""
    body = json.dumps({"stream_url": ["https://example.com/music.mp3"]})
    headers = {"Authorization": "Bearer direct", "Content-Type": "application/json"}
    return timed_ms(
        connection, "PUT", "/v1/calls/direct-leg/stream", "the fake Voice API", body, headers
    )[0]


def legs_empty(app):
    """True if scenario 2 holds no live leg: /stream says no one is in the conference."""
    response = session().get(app.url("/stream"), timeout=20)
    return response.status_code == 409 and NO_ONE_HERE in response.json().get("error", "")


def counts_since(before, after):
    return {kind: n - before.get(kind, 0) for kind, n in after.items() if n != before.get(kind, 0)}


def soak(plan, app, fake):
    """Simulated calls through scenario 2: answer, then "answered", then "completed" events.

    The calls are dealt to 32 concurrent callers, and each caller interleaves its calls at
    random (each call's three steps stay in order, as Vonage sends them), so many legs are live
    at once and come and go in a random order. Then no leg may be live, the Voice API must have
    had no request, and the server must have logged no traceback.
    """
    legs = [f"soak-{n:05d}" for n in range(plan.soak_calls)]
    random.Random(SEED).shuffle(legs)
    callers = [
        interleave(legs[n::SOAK_CALLERS], random.Random(SEED + n)) for n in range(SOAK_CALLERS)
    ]
    if not legs_empty(app):
        raise CouldNotMeasure(f"{app.label}: a leg was live before the soak")
    before, log_offset = fake.counts(), app.log_size()
    started = time.perf_counter()
    with ThreadPoolExecutor(SOAK_CALLERS) as pool:
        outcomes = list(pool.map(lambda steps: play(app, steps), callers))
    seconds = time.perf_counter() - started
    errors = [error for caller_errors, _ in outcomes for error in caller_errors]
    latencies = [ms for _, caller_latencies in outcomes for ms in caller_latencies]
    result = {
        "calls": plan.soak_calls,
        "callers": SOAK_CALLERS,
        "requests": 3 * plan.soak_calls,
        "seconds": seconds,
        "rps": 3 * plan.soak_calls / seconds,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "errors": len(errors),
        "first_errors": errors[:5],
        "legs_empty": legs_empty(app),
        "api_requests": counts_since(before, fake.counts()),
    }
    logged = app.log_since(log_offset)
    result["server_tracebacks"] = logged.count("Traceback")
    result["unrecorded"] = logged.count(UNRECORDED)
    result["ok"] = (
        not errors
        and result["legs_empty"]
        and not result["api_requests"]
        and not result["server_tracebacks"]
        and not result["unrecorded"]
    )
    return result


def interleave(legs, rng):
    """The steps of these calls in a random order that keeps each call's steps in order."""
    pending = [[(step, leg) for step in ("answer", "answered", "completed")] for leg in legs]
    steps = []
    while pending:
        call = rng.choice(pending)
        steps.append(call.pop(0))
        if not call:
            pending.remove(call)
    return steps


def play(app, steps):
    """One caller's steps, on its own connection; returns (errors, latencies in ms)."""
    http = session()
    errors, latencies = [], []
    for step, leg in steps:
        started = time.perf_counter()
        try:
            if step == "answer":
                params = {"uuid": leg, **CALLER}
                response = http.get(app.url("/webhooks/answer"), params=params, timeout=5)
                good = (
                    response.status_code == 200 and response.json()[1]["action"] == "conversation"
                )
            else:
                body = {"uuid": leg, "status": step, **CALLER}
                response = http.post(app.url(EVENT), json=body, timeout=5)
                good = response.status_code == 200
        except (requests.RequestException, ValueError, LookupError) as error:
            errors.append(f"{step} {leg}: {error!r}")
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        if not good:
            errors.append(f"{step} {leg}: {response.status_code} {response.text[:100]}")
    return errors, latencies


def scale(plan, store, env, stores, folder):
    """Scenario 2 on Gunicorn with 2 workers against 1 (WEB_CONCURRENCY), new legs on `store`.

    Four servers run at once: scenario 2 with 1 and with 2 workers, each on a fresh store, and
    floors with 1 and 2 workers. At the most connections, wrk drives the one-worker and the
    two-worker scenario in turn (plan.order, floor standing for 1 and app for 2: 1, 2, 2, 1),
    then the two floors likewise, so that a drift in the machine's speed cancels out of each
    ratio. The floors' ratio is what this machine allows a second process (wrk shares its cores).
    """
    label = f"scenario-2 gunicorn {store}"
    connections = max(plan.connections)
    result = {"store": store, "connections": connections}
    with ExitStack() as running:
        apps, floors = {}, {}
        for workers in (1, 2):
            url, store_process = stores.fresh(store)
            worker_env = {**env, "STATE_URL": url, "WEB_CONCURRENCY": str(workers)}
            name = f"{label} x{workers}"
            progress(f"{name}: starting, with its floor")
            argv = command("gunicorn", "scenario-2")
            app = Server(name, argv, worker_env, folder / f"{slug(name)}.log")
            apps[workers] = running.enter_context(app)
            floor_log = folder / f"{slug(name)}-floor.log"
            floors[workers] = running.enter_context(
                floor_for(app, "gunicorn", worker_env, floor_log)
            )
        for side, pair in (("app", apps), ("floor", floors)):
            if plan.warmup_seconds:
                for server in pair.values():
                    drive(server, ANSWER, 16, plan.warmup_seconds, NEW_LEG)
            progress(f"{label}: {side}, 1 and 2 workers at {connections} connections")
            written = pair[2].bytes_written()
            runs = {1: [], 2: []}
            for turn in plan.order:
                workers = 1 if turn == "floor" else 2
                runs[workers].append(
                    drive(
                        pair[workers],
                        ANSWER,
                        connections,
                        plan.seconds,
                        NEW_LEG,
                        store_process if side == "app" else None,
                    )
                )
            combined = {workers: combine(each) for workers, each in runs.items()}
            result[side] = {
                "one": combined[1],
                "two": combined[2],
                "two_vs_one": combined[2]["rps"] / combined[1]["rps"],
                "memory_mb": {"one": pair[1].memory_mb(), "two": pair[2].memory_mb()},
                # A worker that wrote nothing answered nothing: then 2 workers were 1.
                "workers_that_answered": sum(
                    1 for pid, n in pair[2].bytes_written().items() if n > written.get(pid, 0)
                ),
            }
    return result


def quorum_rounds(plan, label, kind, env, store, folder):
    """Rounds of 12 simultaneous callers with QUORUM=3 through 2 processes sharing one store.

    Two development servers (the callers alternate between them), or one Gunicorn with 2
    workers (each caller on a new connection, which either worker may accept). In each round
    all 12 answer webhooks are sent at once; the NCCOs must hold exactly 2 `wait` (hold music),
    1 `start` and 9 `join` conversations. Then all 12 hang up at once (a "completed" event),
    and no leg may be live before the next round.
    """
    quorum_env = {**env, "STATE_URL": store[0], "QUORUM": str(QUORUM)}
    log = folder / f"quorum-{slug(label)}.log"
    progress(f"{label}: {plan.quorum_rounds} rounds of {CALLERS_PER_ROUND} callers")
    with ExitStack() as running:
        if kind == "dev":
            processes = [
                running.enter_context(Server(label, command("dev", "scenario-2"), quorum_env, log))
                for _ in range(2)
            ]
        else:
            quorum_env["WEB_CONCURRENCY"] = "2"
            processes = [
                running.enter_context(
                    Server(label, command("gunicorn", "scenario-2"), quorum_env, log)
                )
            ]
        offset = processes[0].log_size()
        written = [server.bytes_written() for server in processes]
        gate = threading.Barrier(CALLERS_PER_ROUND, timeout=30)
        rounds, failures, latencies = [], [], []

        def caller(n, leg):
            server = processes[n % len(processes)]
            gate.wait()
            started = time.perf_counter()
            try:
                status, body = one_request(server, "GET", f"{ANSWER}&uuid={leg}")
                role = conversation_role(json.loads(body)) if status == 200 else f"{status}"
            except (OSError, ValueError, LookupError) as error:
                role = repr(error)
            latencies.append((time.perf_counter() - started) * 1000)
            gate.wait()
            event = json.dumps({"uuid": leg, "status": "completed", **CALLER})
            try:
                status, _ = one_request(server, "POST", EVENT, event)
            except OSError as error:
                status = repr(error)
            return role, status

        with ThreadPoolExecutor(CALLERS_PER_ROUND) as pool:
            for number in range(plan.quorum_rounds):
                legs = [f"{RUN_TOKEN}-q{number}-{n}" for n in range(CALLERS_PER_ROUND)]
                try:
                    outcomes = list(pool.map(caller, range(CALLERS_PER_ROUND), legs))
                except threading.BrokenBarrierError:
                    raise CouldNotMeasure(f"{label}: a caller hung in round {number}") from None
                roles = Counter(role for role, _ in outcomes)
                hang_up_errors = sum(1 for _, status in outcomes if status != 200)
                left = live_legs(processes[0])
                rounds.append(dict(roles))
                if roles != RIGHT_ROUND or hang_up_errors or left:
                    failures.append(
                        {"round": number, "roles": dict(roles), "hang_up_errors": hang_up_errors,
                         "legs_left": left}
                    )  # fmt: skip
        logged = processes[0].log_since(offset)
        answered = [
            sum(1 for pid, n in server.bytes_written().items() if n > before.get(pid, 0))
            for server, before in zip(processes, written, strict=True)
        ]
    return {
        "setup": label,
        "rounds": len(rounds),
        "callers_per_round": CALLERS_PER_ROUND,
        "quorum": QUORUM,
        "wrong_rounds": len(failures),
        "first_wrong": failures[:5],
        "unrecorded": logged.count(UNRECORDED),
        "server_tracebacks": logged.count("Traceback"),
        # Processes that answered: the two dev servers, or Gunicorn's workers that wrote.
        "processes_that_answered": len(processes) if kind == "dev" else answered[0],
        "answer_p50_ms": percentile(latencies, 50),
        "answer_p99_ms": percentile(latencies, 99),
    }


def one_request(server, method, path, body=None):
    """(status, body) of one request on a new connection, as each webhook comes from Vonage."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=20)
    try:
        headers = {"Content-Type": "application/json"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def conversation_role(ncco):
    """How the NCCO's conversation action lets the caller in: "wait" (on hold music until the
    conference starts), "start" (starts it), "join", or what else it holds."""
    action = next((a for a in ncco if a.get("action") == "conversation"), None)
    if action is None:
        return "no conversation"
    if action.get("startOnEnter") is False and action.get("musicOnHoldUrl"):
        return "wait"
    if action.get("startOnEnter") is True:
        return "start"
    if "startOnEnter" not in action and "musicOnHoldUrl" not in action:
        return "join"
    return f"other: {json.dumps(action)}"


def live_legs(server):
    """How many legs scenario 2 holds, from /status."""
    status, body = one_request(server, "GET", "/status")
    if status != 200:
        raise CouldNotMeasure(f"{server.label}: /status answered {status}: {body[:300]!r}")
    return len(json.loads(body)["legs"])


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def judge(results, plan):
    """Each target, for each server it applies to: measured value, limit and PASS/MISS."""
    servers = results["servers"]
    most = max(plan.connections)
    targets = []

    def target(what, label, measured, limit, passed, shown):
        targets.append(
            {
                "target": what,
                "server": label,
                "measured": measured,
                "limit": limit,
                "shown": shown,
                "result": "PASS" if passed else "MISS",
            }
        )

    for label, result in servers.items():
        answers = [row for row in result["load"] if row["route"] == "answer"]
        if result["store"]:  # scenario 2: every answer is a new leg, recorded in the store
            what, rps_limit, p99_limit = (
                "recorded answer",
                RECORDED_RPS_VS_FLOOR,
                RECORDED_P99_VS_FLOOR,
            )
        else:
            what, rps_limit, p99_limit = "answer", ANSWER_RPS_VS_FLOOR, P99_VS_FLOOR
        worst = min(answers, key=lambda row: row["rps_vs_floor"])
        unrecorded = sum(row["app"]["unrecorded"] for row in answers)
        target(
            f"{what} req/s vs floor (worst concurrency)",
            label,
            worst["rps_vs_floor"],
            f">= {rps_limit}x",
            worst["rps_vs_floor"] >= rps_limit and not unrecorded,
            f"{worst['rps_vs_floor']:.2f}x at {worst['connections']}"
            + (f", {unrecorded} unrecorded" if unrecorded else ""),
        )
        at_most = next(row for row in answers if row["connections"] == most)
        target(
            f"{what} p99 vs floor at {most} connections",
            label,
            at_most["p99_vs_floor"],
            f"<= {p99_limit}x",
            at_most["p99_vs_floor"] <= p99_limit,
            f"{at_most['p99_vs_floor']:.2f}x",
        )
        startup = max(result["startup_s"])
        target(
            "first answered webhook (worst start)",
            label,
            startup,
            f"<= {STARTUP_S} s",
            startup <= STARTUP_S,
            f"{startup:.2f} s",
        )
        memory = result["memory_mb"]["peak"]
        target(
            "peak memory",
            label,
            memory,
            f"<= {MEMORY_MB} MB",
            memory <= MEMORY_MB,
            f"{memory:.0f} MB",
        )
        if "stream" in result:
            stream = result["stream"]
            target(
                "/stream p50 above the Voice API's own time",
                label,
                stream["p50_ms"],
                f"<= {STREAM_P50_MS} ms",
                stream["p50_ms"] <= STREAM_P50_MS and stream["ok"],
                f"{stream['p50_ms']:.1f} ms",
            )
            soaked = result["soak"]
            target(
                f"soak of {soaked['calls']} calls: no error, no live leg",
                label,
                soaked["errors"],
                "0 errors, empty",
                soaked["ok"],
                f"{soaked['errors'] + soaked['unrecorded']} errors, "
                + ("empty" if soaked["legs_empty"] else "NOT empty"),
            )

    pairs = {}  # (module, store) -> {kind: answer req/s at the most connections}
    for label, module, kind, store in SERVERS:
        if label in servers:
            row = next(
                r
                for r in servers[label]["load"]
                if r["route"] == "answer" and r["connections"] == most
            )
            pairs.setdefault((module, store), {})[kind] = row["app"]["rps"]
    for (module, store), rps in pairs.items():
        if len(rps) == 2:  # --quick leaves some pairs out
            ratio = rps["gunicorn"] / rps["dev"]
            target(
                f"gunicorn vs dev server, answer req/s at {most}",
                f"{module} {store}" if store else module,
                ratio,
                f">= {PRODUCTION_VS_DEV}x",
                ratio >= PRODUCTION_VS_DEV,
                f"{ratio:.2f}x",
            )

    for store, scaled in results["scaling"].items():
        app = scaled["app"]
        target(
            f"2 workers vs 1, recorded answer req/s at {scaled['connections']}",
            f"scenario-2 gunicorn {store}",
            app["two_vs_one"],
            f">= {TWO_WORKERS_VS_ONE}x",
            app["two_vs_one"] >= TWO_WORKERS_VS_ONE and app["workers_that_answered"] == 2,
            f"{app['two_vs_one']:.2f}x (floor {scaled['floor']['two_vs_one']:.2f}x)",
        )

    for label, rounds in results["quorum"].items():
        wrong = rounds["wrong_rounds"] + rounds["unrecorded"] + rounds["server_tracebacks"]
        target(
            f"{rounds['rounds']} rounds of {rounds['callers_per_round']} callers, QUORUM="
            f"{rounds['quorum']}: wrong quorum counts",
            label,
            wrong,
            "0",
            not wrong and rounds["processes_that_answered"] == 2,
            f"{rounds['wrong_rounds']} of {rounds['rounds']}"
            + ("" if rounds["processes_that_answered"] == 2 else ", ONE process answered"),
        )
    return targets


def report(results):
    """The tables for stdout and bench/README.md."""
    load_rows, server_rows = [], []
    for label, result in results["servers"].items():
        for row in result["load"]:
            app, floor = row["app"], row["floor"]
            load_rows.append(
                [
                    label,
                    row["route"],
                    row["connections"],
                    f"{app['rps']:,.0f}",
                    f"{app['p50_ms']:.2f}",
                    f"{app['p99_ms']:.2f}",
                    f"{app['cpu_us']:.0f}",
                    f"{app['store_cpu_us']:.0f}" if "store_cpu_us" in app else "-",
                    f"{floor['rps']:,.0f}",
                    f"{floor['p50_ms']:.2f}",
                    f"{floor['p99_ms']:.2f}",
                    f"{floor['cpu_us']:.0f}",
                    f"{row['rps_vs_floor']:.2f}",
                    f"{row['p99_vs_floor']:.2f}",
                    f"{row['cpu_vs_floor']:.2f}",
                    errors(app) + errors(floor),
                ]
            )
        startups = sorted(result["startup_s"])
        stream, soaked = result.get("stream"), result.get("soak")
        server_rows.append(
            [
                label,
                f"{startups[len(startups) // 2]:.2f} / {startups[-1]:.2f}",
                f"{result['floor_startup_s']:.2f}",
                memory(result["memory_mb"]),
                memory(result["floor_memory_mb"]),
                f"{stream['p50_ms']:.1f} / {stream['p99_ms']:.1f} / {stream['first_ms']:.0f}"
                f" (API {stream['api_p50_ms']:.1f}, floor {stream['floor_round_trip_p50_ms']:.1f})"
                if stream
                else "-",
                f"{soaked['rps']:,.0f} req/s, {soaked['errors'] + soaked['unrecorded']} errors, "
                + ("legs empty" if soaked["legs_empty"] else "LEGS LEFT")
                if soaked
                else "-",
            ]
        )
    scaling_rows = []
    for store, scaled in results["scaling"].items():
        for side in ("app", "floor"):
            one, two = scaled[side]["one"], scaled[side]["two"]
            scaling_rows.append(
                [
                    f"scenario-2 gunicorn {store}" if side == "app" else "floor",
                    scaled["connections"],
                    f"{one['rps']:,.0f}",
                    f"{two['rps']:,.0f}",
                    f"{scaled[side]['two_vs_one']:.2f}",
                    f"{one['p99_ms']:.2f} / {two['p99_ms']:.2f}",
                    f"{one['cpu_us']:.0f} / {two['cpu_us']:.0f}",
                    f"{one['store_cpu_us']:.0f} / {two['store_cpu_us']:.0f}"
                    if "store_cpu_us" in one
                    else "-",
                    f"{scaled[side]['memory_mb']['one']['peak']:.0f}"
                    f" / {scaled[side]['memory_mb']['two']['peak']:.0f}",
                    scaled[side]["workers_that_answered"],
                    errors(one) + errors(two),
                ]
            )
    quorum_rows = [
        [
            label,
            rounds["rounds"],
            rounds["rounds"] - rounds["wrong_rounds"],
            rounds["wrong_rounds"],
            rounds["unrecorded"],
            rounds["processes_that_answered"],
            f"{rounds['answer_p50_ms']:.1f} / {rounds['answer_p99_ms']:.1f}",
        ]
        for label, rounds in results["quorum"].items()
    ]
    machine = results["machine"]
    order = ", ".join(results["plan"]["order"])
    stores = results["stores"]
    return "\n\n".join(
        [
            f"Webhook benchmark, {results['date']}: {machine['cpus']} cores, {machine['cpu']}, "
            f"Python {machine['python']}, {machine['wrk']}, SQLite {stores['sqlite']}, Redis"
            f" {stores['redis'] or '-'}; load average {results['load_average'][0]} before,"
            f" {results['load_average'][1]} after",
            f"Load (wrk, one thread, loopback; answer: a new leg on every request; per row and"
            f" side, {order} runs of {results['plan']['seconds']} s: req/s over all, p50/p99 ms"
            " the runs' mean, CPU the server's CPU µs per request, store CPU redis-server's;"
            " x: the scenario over its floor; errors: failed requests and callers the store"
            " could not record):",
            markdown_table(
                [
                    "server",
                    "route",
                    "conns",
                    "req/s",
                    "p50",
                    "p99",
                    "CPU",
                    "store CPU",
                    "floor req/s",
                    "floor p50",
                    "floor p99",
                    "floor CPU",
                    "x req/s",
                    "x p99",
                    "x CPU",
                    "errors",
                ],
                load_rows,
            ),
            "Servers (startup: spawn to first answered webhook, median / worst; peak MB: VmHWM,"
            " for Gunicorn the worker's plus the arbiter's private memory; /stream: ms above the"
            " Voice API's own time, p50 / p99 / first call, then the API's own p50 and a floor"
            " webhook's round trip timed alongside):",
            markdown_table(
                [
                    "server",
                    "startup s",
                    "floor startup s",
                    "peak MB",
                    "floor peak MB",
                    "/stream",
                    "soak",
                ],
                server_rows,
            ),
            "Workers (Gunicorn with WEB_CONCURRENCY=1 and 2, a new leg on every answer; 1 and 2"
            " workers in turn, then their floors; p99 ms, CPU µs per request and peak MB as"
            " 1 worker / 2 workers; answered: workers of the 2 that served requests):",
            markdown_table(
                [
                    "server",
                    "conns",
                    "1 worker req/s",
                    "2 workers req/s",
                    "x",
                    "p99",
                    "CPU",
                    "store CPU",
                    "peak MB",
                    "answered",
                    "errors",
                ],
                scaling_rows,
            ),
            f"Quorum (QUORUM={QUORUM}, {CALLERS_PER_ROUND} callers at once per round, each"
            " round's NCCOs must hold 2 wait, 1 start and 9 join, then all hang up; answer ms"
            " p50 / p99):",
            markdown_table(
                [
                    "setup",
                    "rounds",
                    "right",
                    "wrong",
                    "unrecorded",
                    "processes",
                    "answer ms",
                ],
                quorum_rows,
            ),
            "Targets:",
            markdown_table(
                ["target", "server", "measured", "limit", "result"],
                [
                    [t["target"], t["server"], t["shown"], t["limit"], t["result"]]
                    for t in results["targets"]
                ],
            ),
        ]
    )


def memory(mb):
    if "worker_hwm" not in mb:
        return f"{mb['peak']:.0f}"
    if mb["workers"] > 1:
        return (
            f"{mb['peak']:.0f} (worker {mb['worker_hwm']:.0f} + others"
            f" {mb['other_workers_private']:.0f} + arbiter {mb['arbiter_private']:.0f})"
        )
    return f"{mb['peak']:.0f} (worker {mb['worker_hwm']:.0f} + arbiter {mb['arbiter_private']:.0f})"


def markdown_table(headers, rows):
    rows = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def machine(wrk):
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "system": platform.platform(),
        "python": platform.python_version(),
        "wrk": wrk,
        **{name: metadata.version(name) for name in ("flask", "werkzeug", "gunicorn", "vonage")},
    }


if __name__ == "__main__":
    sys.exit(main())
