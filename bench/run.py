"""The webhook benchmark: `python bench/run.py [--quick] [--json PATH]`; bench/README.md says how.

Each scenario runs on Flask's development server and on Gunicorn, scenario 2 with SQLite and
with Redis, beside floors that return its very bytes. It measures answer and event webhooks
under load (wrk), /stream's time above the Voice API's own, start-up, peak memory, a soak of
simulated calls, 2 Gunicorn workers against 1, and quorum rounds through two processes sharing
one store; prints Markdown tables and TARGETS, PASS or MISS; writes JSON; and exits non-zero
only if something could not be measured.
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
from importlib import import_module, metadata
from pathlib import Path
from statistics import median

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))  # the project and testing/, when run as bench/run.py

import jwt
import loadgen
import redis
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from servers import CouldNotMeasure, Measured, cpu_seconds

import settings as config
from testing.fake_voice_api import FakeVoiceApi
from testing.processes import DidNotStart, RedisServer, session

SERVERS = {  # label: module, server kind, scenario 2's store
    "scenario-1 dev": ("scenario-1", "dev", None),
    "scenario-1 gunicorn": ("scenario-1", "gunicorn", None),
    "scenario-2 dev sqlite": ("scenario-2", "dev", "sqlite"),
    "scenario-2 dev redis": ("scenario-2", "dev", "redis"),
    "scenario-2 gunicorn sqlite": ("scenario-2", "gunicorn", "sqlite"),
    "scenario-2 gunicorn redis": ("scenario-2", "gunicorn", "redis"),
}
QUORUM_SETUPS = {  # label: two dev servers or one Gunicorn with 2 workers, the store
    "2 dev servers, sqlite": ("dev", "sqlite"),
    "2 dev servers, redis": ("dev", "redis"),
    "gunicorn 2 workers, sqlite": ("gunicorn", "sqlite"),
    "gunicorn 2 workers, redis": ("gunicorn", "redis"),
}
# The targets: the figure, how it must compare with the limit, the limit, its unit.
TARGETS = {
    "answer req/s vs floor (worst concurrency)": (">=", 0.9, "x"),
    "answer p99 vs floor (most connections)": ("<=", 1.2, "x"),
    "recorded answer req/s vs floor (worst concurrency)": (">=", 0.85, "x"),
    "recorded answer p99 vs floor (most connections)": ("<=", 1.3, "x"),
    "first answered webhook (worst start)": ("<=", 1.5, " s"),
    "peak memory": ("<=", 80, " MB"),
    "/stream p50 above the Voice API's own time": ("<=", 3.0, " ms"),
    "soak: errors and live legs left": ("<=", 0, ""),
    "gunicorn vs dev server, answer req/s (most connections)": (">=", 1.5, "x"),
    "2 workers vs 1, recorded answer req/s": (">=", 1.4, "x"),
    "quorum rounds with a wrong count": ("<=", 0, ""),
}

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
CALLER = {"from": "447700900000", "to": "447700900001", "conversation_uuid": "CON-bench"}
ANSWER = "/webhooks/answer?" + "&".join(f"{k}={v}" for k, v in CALLER.items())
EVENT = "/webhooks/event"
EVENT_BODY = {"uuid": "bench-leg", "status": "completed", "direction": "inbound", **CALLER}
EVENT_BODY |= {"timestamp": "2024-01-01T00:00:00.000Z", "duration": "42"}
NEW_LEG, POST_EVENT = BENCH / "new_leg.lua", BENCH / "post_event.lua"
RUN_TOKEN = secrets.token_hex(4)
LEG_PREFIXES = (f"{RUN_TOKEN}-{n}" for n in itertools.count(1))  # one per wrk run
UNRECORDED = import_module("scenario-2").JOINED_UNRECORDED
API_DELAY = 0.050  # seconds the fake Voice API takes to answer
SOAK_CALLERS, SEED = 32, 2023
SETTLE = 0.2  # seconds after each wrk run, for the server to finish what wrk abandoned
QUORUM, CALLERS_PER_ROUND = 3, 12
RIGHT_ROUND = {"wait": QUORUM - 1, "start": 1, "join": CALLERS_PER_ROUND - QUORUM}


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    servers: tuple = tuple(SERVERS)
    connections: tuple = (1, 16, 64)
    # wrk's turns on each route: a drift in the machine's speed cancels out of the ratios.
    order: tuple = ("floor", "store", "app", "app", "store", "floor")
    seconds: int = 2  # each wrk run
    warmup_seconds: int = 1  # per route and server before its runs, not reported
    starts: int = 3
    stream_samples: int = 100
    soak_calls: int = 2000
    scaling_stores: tuple = ("sqlite", "redis")
    quorum_setups: tuple = tuple(QUORUM_SETUPS)
    quorum_rounds: int = 50


FULL = Plan()
QUICK = Plan(  # every part, small: each store and each kind of server once
    servers=("scenario-1 dev", "scenario-2 dev sqlite", "scenario-2 gunicorn redis"),
    connections=(16,),
    order=("floor", "store", "app"),
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
    parser = argparse.ArgumentParser(description="Benchmark the webhook servers (11 minutes).")
    parser.add_argument("--quick", action="store_true", help="every part, small: about 40 s")
    parser.add_argument("--json", type=Path, default=BENCH / "results.json", help="output file")
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
    except (CouldNotMeasure, DidNotStart) as error:
        print(f"could not measure: {error}", file=sys.stderr)
        return 1
    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}
    results["load_average"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    results |= {"machine": machine(wrk), "plan": asdict(plan) | {"quick": args.quick}, **measured}
    results |= {"targets": judge(results), "seconds": round(time.monotonic() - started, 1)}
    print(report(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nWrote {args.json} in {results['seconds']} s.")
    return 0


def progress(message):
    print(message, file=sys.stderr, flush=True)


class Bench:
    """What every part needs: the plan, the folder, the fake Voice API, a redis-server."""

    def __init__(self, plan, folder, running):
        self.plan, self.folder, self.databases = plan, folder, 0
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # this run's only
        pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
        (folder / "private.key").write_bytes(key.private_bytes(*pem, serialization.NoEncryption()))
        self.fake = FakeVoiceApi(folder, key.public_key(), APPLICATION_ID, delay=API_DELAY)
        running.callback(self.fake.stop)
        claims = {"application_id": APPLICATION_ID, "iat": int(time.time()), "jti": RUN_TOKEN}
        self.token = jwt.encode(claims, key, algorithm="RS256")
        self.redis = running.enter_context(RedisServer(folder))  # every plan has a Redis part
        # Every project variable set (empty is its default), so a .env changes nothing here;
        # PYTHONUNBUFFERED empty, as users run them.
        self.env = dict.fromkeys(set(config.VARIABLE_NAMES) - {"HOST", "PORT"}, "")
        self.env |= {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_API_HOST": self.fake.host}
        self.env |= {"VONAGE_PRIVATE_KEY": str(folder / "private.key"), "NO_PROXY": "127.0.0.1"}
        self.env |= {"REQUESTS_CA_BUNDLE": str(self.fake.ca_file), "PYTHONUNBUFFERED": ""}
        self.env["WEB_CONCURRENCY"] = "1"  # Gunicorn reads it too, and refuses it empty

    def store(self, store):
        """A fresh store: (STATE_URL, its own process id or None) for "sqlite", "redis" or None."""
        self.databases += 1
        if store == "sqlite":
            return f"sqlite:///{self.folder}/conference-{self.databases}.sqlite3", None
        if store == "redis" and self.databases < 16:  # redis-server's default count
            return f"redis://127.0.0.1:{self.redis.port}/{self.databases}", self.redis.process.pid
        if store:
            raise CouldNotMeasure(f"no fresh {store} store left")
        return "", None

    def start(self, label, kind, module, **settings):
        log = self.folder / (label.replace(" ", "-").replace(",", "") + ".log")
        return Measured(label, kind, module, {**self.env, **settings}, log)


def measure(plan, folder):
    with ExitStack() as running:
        bench = Bench(plan, folder, running)
        return {
            "stores": {"redis": redis_version(bench.redis), "sqlite": sqlite3.sqlite_version},
            "servers": {label: measure_server(bench, label) for label in plan.servers},
            "scaling": {store: scale(bench, store) for store in plan.scaling_stores},
            "quorum": {label: quorum_rounds(bench, label) for label in plan.quorum_setups},
        }


def measure_server(bench, label):
    """One scenario on one kind of server beside its floors, with one store for every start."""
    module, kind, store = SERVERS[label]
    url, store_process = bench.store(store)
    progress(f"{label}: starting {bench.plan.starts} time(s)")
    startups = []
    for _ in range(bench.plan.starts - 1):  # extra starts, for the startup time alone
        with bench.start(label, kind, module, STATE_URL=url) as server:
            startups.append(server.startup)
    with ExitStack() as running:
        app = running.enter_context(bench.start(label, kind, module, STATE_URL=url))
        floor = running.enter_context(floor_for(bench, app, kind))
        floors = {"floor": floor}
        if store:
            floor_store = str(bench.folder / f"floor-{app.port}.sqlite3")
            store_floor = floor_for(bench, app, kind, "store floor", FLOOR_STORE=floor_store)
            floors["store"] = running.enter_context(store_floor)
        result = {"command": " ".join(app.process.args[1:]), "store": store}
        result |= {"startup_s": [*startups, app.startup], "floor_startup_s": floor.startup}
        if store:  # before the load, which leaves the store full of legs
            progress(f"{label}: /stream and the soak")
            result |= {"stream": time_stream(bench, app, floor), "soak": soak(bench, app)}
        result["load"] = load(bench, label, app, floors, store_process)
        return result | {"memory_mb": app.memory_mb(), "floor_memory_mb": floor.memory_mb()}


def floor_for(bench, app, kind, name="floor", **settings):
    """A floor for `app` on the same kind of server, once it returns the app's very bytes."""
    answer, event = responses(app)
    settings |= {"FLOOR_BODY": answer[0].hex(), "FLOOR_CONTENT_TYPE": answer[1]}
    settings["WEB_CONCURRENCY"] = app.settings["WEB_CONCURRENCY"]
    floor = bench.start(f"{app.label} {name}", kind, "floor_app", **settings)
    if responses(floor) != (answer, event):
        floor.stop()
        raise CouldNotMeasure(f"{app.label}: the {name} does not return the scenario's bytes")
    return floor


def responses(server):
    """(body, content type) of an answer and of the event that ends its leg."""
    http = session()
    answer = http.get(server.base + f"{ANSWER}&uuid={EVENT_BODY['uuid']}", timeout=5)
    event = http.post(server.base + EVENT, json=EVENT_BODY, timeout=5)
    for response in (answer, event):
        if response.status_code != 200:
            raise CouldNotMeasure(f"{server.label}: {response.url} got {response.status_code}")
    return tuple((r.content, r.headers["Content-Type"]) for r in (answer, event))


def load(bench, label, app, floors, store_process):
    """wrk on each route at each concurrency, the app and its floors in turn (plan.order)."""
    rows = []
    for route, path, script in (("answer", ANSWER, NEW_LEG), ("event", EVENT, POST_EVENT)):
        sides = {"app": app, "floor": floors["floor"]}
        if route == "answer" and "store" in floors:  # the store floor records answers alone
            sides["store"] = floors["store"]
        for server in sides.values() if bench.plan.warmup_seconds else ():
            drive(server, path, 16, bench.plan.warmup_seconds, script)
        for connections in bench.plan.connections:
            progress(f"{label}: {route} at {connections} connection(s)")
            row = {"route": route, "connections": connections}
            row |= turns(bench, sides, path, connections, script, {"app": store_process})
            for side, figure in itertools.product(("floor", "store"), ("rps", "p99_ms", "cpu_us")):
                if side in row:  # the app over its floor: rps_vs_floor, ..., cpu_vs_store
                    row[f"{figure.split('_')[0]}_vs_{side}"] = (
                        row["app"][figure] / row[side][figure]
                    )
            rows.append(row)
    return rows


def turns(bench, sides, path, connections, script, store_processes=None):
    """wrk on each side in plan.order's turns; each side's runs combined into one."""
    runs = {name: [] for name in sides}
    for name in (name for name in bench.plan.order if name in sides):
        store = (store_processes or {}).get(name)
        runs[name].append(drive(sides[name], path, connections, bench.plan.seconds, script, store))
    return {name: combine(each) for name, each in runs.items()}


def drive(server, path, connections, seconds, script, store_pid=None):
    """One wrk run, with the server's CPU µs per request (and its store's, if it runs apart),
    and how many callers it logged as joining unrecorded."""
    env = {"EVENT_BODY": json.dumps(EVENT_BODY), "LEG_PREFIX": next(LEG_PREFIXES)}
    cpu, offset = server.cpu_seconds(), server.log.stat().st_size
    store_cpu = cpu_seconds(store_pid) if store_pid else 0
    run = loadgen.drive(server.base + path, connections, seconds, script, env)
    time.sleep(SETTLE)  # within the CPU time: the server is finishing wrk's requests
    run["cpu_us"] = (server.cpu_seconds() - cpu) / run["requests"] * 1e6
    if store_pid:
        run["store_cpu_us"] = (cpu_seconds(store_pid) - store_cpu) / run["requests"] * 1e6
    run["unrecorded"] = server.printed(since=offset).count(UNRECORDED)
    return run


def combine(runs):
    """One side's runs as one: all requests over all seconds, and the mean of each percentile."""
    made, seconds = sum(run["requests"] for run in runs), sum(run["seconds"] for run in runs)
    combined = {"requests": made, "seconds": seconds, "rps": made / seconds}
    combined |= {k: sum(run[k] for run in runs) for k in ("non_2xx", "socket_errors", "unrecorded")}
    combined |= {k: sum(run[k] for run in runs) / len(runs) for k in ("p50_ms", "p99_ms")}
    per_request = [k for k in ("cpu_us", "store_cpu_us") if k in runs[0]]
    combined |= {k: sum(run[k] * run["requests"] for run in runs) / made for k in per_request}
    return combined | {"runs": runs}


def errors(side):
    """Requests that failed, and answers whose leg the store could not record."""
    return side["non_2xx"] + side["socket_errors"] + side["unrecorded"]


def time_stream(bench, app, floor):
    """/stream's time above the Voice API's own, in ms, with the first call apart; a PUT
    straight to the fake and a floor webhook timed in turn by the same keep-alive client."""
    session().get(app.base + ANSWER, params={"uuid": "stream-leg"}, timeout=5)
    before, (host, port) = len(bench.fake.requests), bench.fake.host.split(":")
    context = ssl.create_default_context(cafile=str(bench.fake.ca_file))
    api = HTTPSConnection(host, int(port), context=context, timeout=20)
    server, bare = (HTTPConnection("127.0.0.1", each.port, timeout=20) for each in (app, floor))
    put = json.dumps({"stream_url": ["https://example.com/music.mp3"]})
    headers = {"Authorization": f"Bearer {bench.token}", "Content-Type": "application/json"}
    first, own, stream, bare_ms = timed_ms(server, "GET", "/stream"), [], [], []
    for _ in range(bench.plan.stream_samples):
        own.append(timed_ms(api, "PUT", "/v1/calls/direct-leg/stream", put, headers))
        stream.append(timed_ms(server, "GET", "/stream"))
        bare_ms.append(timed_ms(bare, "GET", ANSWER))
    for connection in (server, api, bare):
        connection.close()
    session().post(app.base + EVENT, json={"uuid": "stream-leg", "status": "completed"}, timeout=5)
    own, calls, empty = percentile(own, 50), api_calls(bench.fake, before), not live_legs(app)
    result = {"api_p50_ms": own, "first_ms": first - own, **spread(stream, minus=own)}
    result |= {"floor_round_trip_p50_ms": percentile(bare_ms, 50), "samples": len(stream)}
    result |= {"api_requests": calls, "legs_empty_after": empty}
    # Each /stream made exactly one API call, each direct PUT one, and nothing else came.
    return result | {"ok": empty and calls == {"stream": 1 + 2 * bench.plan.stream_samples}}


def timed_ms(connection, method, path, body=None, headers=None):
    """Milliseconds of one request on a kept-alive connection; CouldNotMeasure unless 200."""
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200:
        raise CouldNotMeasure(f"{method} {path} answered {response.status}: {answer[:300]!r}")
    return (time.perf_counter() - started) * 1000


def api_calls(fake, since):
    """The fake Voice API's requests since the `since`-th: good stream starts, and the rest."""
    calls = Counter()
    for method, uuid, _, problem in fake.requests[since:]:
        calls["stream" if (method, problem) == ("PUT", None) and uuid else "unexpected"] += 1
    return dict(calls)


def soak(bench, app):
    """Simulated calls (answer, "answered", "completed") dealt to 32 concurrent callers, each
    interleaving its calls at random in a fixed order; then no leg may be live, the Voice API
    must have had no request and the server must have logged no traceback."""
    legs = [f"soak-{n:05d}" for n in range(bench.plan.soak_calls)]
    random.Random(SEED).shuffle(legs)
    callers = [interleave(legs[n::SOAK_CALLERS], SEED + n) for n in range(SOAK_CALLERS)]
    if live_legs(app):
        raise CouldNotMeasure(f"{app.label}: a leg was live before the soak")
    before, offset, started = len(bench.fake.requests), app.log.stat().st_size, time.perf_counter()
    with ThreadPoolExecutor(SOAK_CALLERS) as pool:
        steps = [step for played in pool.map(lambda c: play(app, c), callers) for step in played]
    seconds = time.perf_counter() - started
    left, calls = live_legs(app), api_calls(bench.fake, before)
    failed = [error for error, _ in steps if error]
    result = {"calls": len(legs), "callers": SOAK_CALLERS, "seconds": seconds}
    result |= {"rps": len(steps) / seconds, **spread([ms for _, ms in steps if ms])}
    result |= {"errors": len(failed), "first_errors": failed[:5], "legs_left": left}
    result |= {"api_requests": calls, **logged(app, offset)}
    return result | {"ok": not (failed or left or calls or result["server_tracebacks"])}


def interleave(legs, seed):
    """The steps of these calls in a random order that keeps each call's steps in order."""
    rng, steps = random.Random(seed), []
    pending = [[(step, leg) for step in ("answer", "answered", "completed")] for leg in legs]
    while pending:
        call = rng.choice(pending)
        steps.append(call.pop(0))
        if not call:
            pending.remove(call)
    return steps


def play(app, steps):
    """One caller's steps, on its own connection: (error or None, ms) for each."""
    http, played = session(), []
    for step, leg in steps:
        started = time.perf_counter()
        try:
            if step == "answer":
                response = http.get(app.base + ANSWER, params={"uuid": leg}, timeout=5)
                good = response.json()[1]["action"] == "conversation"
            else:
                body = {"uuid": leg, "status": step, **CALLER}
                response, good = http.post(app.base + EVENT, json=body, timeout=5), True
        except (requests.RequestException, ValueError, LookupError) as error:
            played.append((f"{step} {leg}: {error!r}", None))
            continue
        fine = response.status_code == 200 and good
        error = None if fine else f"{step} {leg}: {response.status_code} {response.text[:100]}"
        played.append((error, (time.perf_counter() - started) * 1000))
    return played


def scale(bench, store):
    """Scenario 2 on Gunicorn with 2 workers against 1 (WEB_CONCURRENCY), each on a fresh store,
    then floors with 1 and 2 workers: wrk drives the two in turn (plan.order: floor stands for
    1 worker and app for 2), at the most connections."""
    label, connections = f"scenario-2 gunicorn {store}", max(bench.plan.connections)
    result = {"store": store, "connections": connections}
    with ExitStack() as running:
        apps, floors, store_process = {}, {}, None
        for workers in ("1", "2"):
            url, store_process = bench.store(store)
            progress(f"{label} x{workers}: starting, with its floor")
            settings = {"STATE_URL": url, "WEB_CONCURRENCY": workers}
            app = bench.start(f"{label} x{workers}", "gunicorn", "scenario-2", **settings)
            apps[workers] = running.enter_context(app)
            floors[workers] = running.enter_context(floor_for(bench, app, "gunicorn"))
        for side, pair in (("app", apps), ("floor", floors)):
            for server in pair.values() if bench.plan.warmup_seconds else ():
                drive(server, ANSWER, 16, bench.plan.warmup_seconds, NEW_LEG)
            progress(f"{label}: {side}, 1 and 2 workers at {connections} connections")
            written = pair["2"].bytes_written()
            sides = {"floor": pair["1"], "app": pair["2"]}
            stores = dict.fromkeys(sides, store_process if side == "app" else None)
            ran = turns(bench, sides, ANSWER, connections, NEW_LEG, stores)
            one, two = ran["floor"], ran["app"]
            result[side] = {"one": one, "two": two, "two_vs_one": two["rps"] / one["rps"]}
            result[side]["memory_mb"] = {"one": pair["1"].memory_mb(), "two": pair["2"].memory_mb()}
            result[side]["workers_that_answered"] = wrote(pair["2"], written)
    return result


def wrote(server, before):
    """How many of the server's workers wrote since `before`: one that did not answered none."""
    return sum(1 for pid, n in server.bytes_written().items() if n > before.get(pid, 0))


def quorum_rounds(bench, label):
    """Rounds of 12 callers at once with QUORUM=3 through 2 processes sharing one store: two
    dev servers (callers alternate), or Gunicorn's 2 workers (a new connection per caller)."""
    kind, store = QUORUM_SETUPS[label]
    settings = {"STATE_URL": bench.store(store)[0], "QUORUM": str(QUORUM)}
    settings |= {"WEB_CONCURRENCY": "2"} if kind == "gunicorn" else {}
    progress(f"{label}: {bench.plan.quorum_rounds} rounds of {CALLERS_PER_ROUND} callers")
    with ExitStack() as running:
        processes = [
            running.enter_context(bench.start(label, kind, "scenario-2", **settings))
            for _ in range(2 if kind == "dev" else 1)
        ]
        offset, written = processes[0].log.stat().st_size, processes[0].bytes_written()
        gate, latencies = threading.Barrier(CALLERS_PER_ROUND, timeout=30), []
        with ThreadPoolExecutor(CALLERS_PER_ROUND) as pool:
            rounds = [
                one_round(pool, gate, latencies, processes, number, label)
                for number in range(bench.plan.quorum_rounds)
            ]
        wrong = [each for each in rounds if each]  # round, roles, hang-ups that failed, legs left
        answered = len(processes) if kind == "dev" else wrote(processes[0], written)
        result = {"rounds": len(rounds), "callers_per_round": CALLERS_PER_ROUND, "quorum": QUORUM}
        result |= {"wrong_rounds": len(wrong), "first_wrong": wrong[:5]}
        result |= logged(processes[0], offset)  # both dev servers write to this log
        result |= {"processes_that_answered": answered}
        return result | spread(latencies, prefix="answer_")


def one_round(pool, gate, latencies, processes, number, label):
    """One round's callers at once, then their hang-ups at once; what was wrong, or None."""
    legs = [f"{RUN_TOKEN}-q{number}-{n}" for n in range(CALLERS_PER_ROUND)]
    servers = [processes[n % len(processes)] for n in range(CALLERS_PER_ROUND)]
    try:
        outcomes = list(pool.map(lambda *leg: caller(gate, latencies, *leg), servers, legs))
    except threading.BrokenBarrierError:
        raise CouldNotMeasure(f"{label}: a caller hung in round {number}") from None
    roles = dict(Counter(role for role, _ in outcomes))
    hang_ups_failed = sum(1 for _, status in outcomes if status != 200)
    left = live_legs(processes[0])
    if roles != RIGHT_ROUND or hang_ups_failed or left:
        return [number, roles, hang_ups_failed, left]
    return None


def caller(gate, latencies, server, leg):
    """One caller: answered with the others, then hangs up with them: (role, hang-up's status)."""
    gate.wait()
    started = time.perf_counter()
    status, body = one_request(server, "GET", f"{ANSWER}&uuid={leg}")
    latencies.append((time.perf_counter() - started) * 1000)
    gate.wait()
    event = json.dumps({"uuid": leg, "status": "completed", **CALLER})
    role = conversation_role(body) if status == 200 else f"{status}"
    return role, one_request(server, "POST", EVENT, event)[0]


def one_request(server, method, path, body=None):
    """(status, body) of one request on a new connection, as each webhook comes from Vonage;
    (the error, b"") if it could not connect."""
    connection = HTTPConnection("127.0.0.1", server.port, timeout=20)
    headers = {"Content-Type": "application/json"} if body else {}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError as error:
        return repr(error), b""
    finally:
        connection.close()


# How a conversation action lets the caller in, by (startOnEnter, hold music): "wait" (hold
# music until the conference starts), "start" (starts it) or "join".
ROLES = {(False, True): "wait", (True, False): "start", (None, False): "join"}


def conversation_role(body):
    """The answer's role (ROLES), or what else it holds."""
    try:
        action = next(a for a in json.loads(body) if a.get("action") == "conversation")
    except (ValueError, TypeError, AttributeError, StopIteration):
        return f"no conversation: {body[:100]!r}"
    role = ROLES.get((action.get("startOnEnter"), bool(action.get("musicOnHoldUrl"))))
    return role or f"other: {json.dumps(action)}"


def live_legs(server):
    """How many legs scenario 2 holds, from /status."""
    status, body = one_request(server, "GET", "/status")
    if status != 200:
        raise CouldNotMeasure(f"{server.label}: /status answered {status}: {body[:300]!r}")
    return len(json.loads(body)["legs"])


def logged(server, offset):
    """What the server logged since `offset` that counts against it."""
    text = server.printed(since=offset)
    return {"unrecorded": text.count(UNRECORDED), "server_tracebacks": text.count("Traceback")}


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(ms, prefix="", minus=0):
    """p50 and p99 of these milliseconds, less `minus`."""
    return {f"{prefix}p{p}_ms": percentile(ms, p) - minus for p in (50, 99)}


def figures(results):
    """(target, server, measured figure, whether nothing else went wrong, a note) for each."""
    most = max(results["plan"]["connections"])
    for label, result in results["servers"].items():
        for what, value, fine, note in server_figures(result, most):
            yield what, label, value, fine, note
    yield from gunicorn_vs_dev(results["servers"], most)
    for store, scaled in results["scaling"].items():
        app, note = scaled["app"], f"floor {scaled['floor']['two_vs_one']:.2f}x"
        fine = app["workers_that_answered"] == 2 and not errors(app["one"]) + errors(app["two"])
        what = "2 workers vs 1, recorded answer req/s"
        yield what, f"scenario-2 gunicorn {store}", app["two_vs_one"], fine, note
    for label, rounds in results["quorum"].items():
        fine = rounds["processes_that_answered"] == 2
        fine &= not rounds["unrecorded"] + rounds["server_tracebacks"]
        note = f"of {rounds['rounds']}" + ("" if fine else "; unrecorded, traceback or 1 process")
        yield "quorum rounds with a wrong count", label, rounds["wrong_rounds"], fine, note


def server_figures(result, most):
    """(target, figure, whether nothing else went wrong, a note) of one server's figures."""
    what = "recorded answer" if result["store"] else "answer"
    answers = [row for row in result["load"] if row["route"] == "answer"]
    worst = min(answers, key=lambda row: row["rps_vs_floor"])
    at_most = next(row for row in answers if row["connections"] == most)
    lost = sum(row["app"]["unrecorded"] for row in answers)
    note = f"at {worst['connections']}" + (f", {lost} unrecorded" if lost else "")
    yield f"{what} req/s vs floor (worst concurrency)", worst["rps_vs_floor"], not lost, note
    yield f"{what} p99 vs floor (most connections)", at_most["p99_vs_floor"], True, ""
    yield "first answered webhook (worst start)", max(result["startup_s"]), True, ""
    yield "peak memory", result["memory_mb"]["peak"], True, ""
    if result["store"]:
        stream, soaked = result["stream"], result["soak"]
        wrong = soaked["errors"] + soaked["unrecorded"] + soaked["legs_left"]
        yield "/stream p50 above the Voice API's own time", stream["p50_ms"], stream["ok"], ""
        yield "soak: errors and live legs left", wrong, soaked["ok"], f"{soaked['calls']} calls"


def gunicorn_vs_dev(servers, most):
    """Gunicorn's answers per second over the development server's, where both ran."""
    rps = {}
    for label, result in servers.items():
        module, kind, store = SERVERS[label]
        row = next(r for r in result["load"] if (r["route"], r["connections"]) == ("answer", most))
        rps.setdefault(f"{module} {store}" if store else module, {})[kind] = row["app"]["rps"]
    for server, pair in rps.items():
        if len(pair) == 2:  # --quick leaves some pairs out
            what = "gunicorn vs dev server, answer req/s (most connections)"
            yield what, server, pair["gunicorn"] / pair["dev"], True, ""


def judge(results):
    """Each target for each server it applies to: the figure, the limit, PASS or MISS."""
    return [judged(*figure) for figure in figures(results)]


def judged(what, server, value, fine, note):
    compare, limit, unit = TARGETS[what]
    met = fine and (value >= limit if compare == ">=" else value <= limit)
    shown = (f"{value:.2f}" if isinstance(value, float) else f"{value}") + unit
    shown += f" ({note})" if note else ""
    row = {"target": what, "server": server, "measured": value, "shown": shown}
    return row | {"limit": f"{compare} {limit}{unit}", "result": "PASS" if met else "MISS"}


# Each table: its title, then its columns as "header=cell", each cell a format string of a row.
TABLES = {
    "load": (
        "Load (a new leg per answer; {order} runs of {seconds} s; CPU µs per request; x: the"
        " scenario over its floor, x store: over the store floor; errors: failed or unrecorded):",
        "server={server} | route={route} | conns={connections} | req/s={app[rps]:,.0f}"
        " | p50={app[p50_ms]:.2f} | p99={app[p99_ms]:.2f} | CPU={app[cpu_us]:.0f}"
        " | store CPU={app[store_cpu_us]:.0f} | floor req/s={floor[rps]:,.0f}"
        " | floor p50={floor[p50_ms]:.2f} | floor p99={floor[p99_ms]:.2f}"
        " | floor CPU={floor[cpu_us]:.0f} | store floor req/s={store[rps]:,.0f}"
        " | store floor p99={store[p99_ms]:.2f} | store floor CPU={store[cpu_us]:.0f}"
        " | x req/s={rps_vs_floor:.2f} | x p99={p99_vs_floor:.2f} | x CPU={cpu_vs_floor:.2f}"
        " | x store req/s={rps_vs_store:.2f} | x store p99={p99_vs_store:.2f} | errors={errors}",
    ),
    "servers": (
        "Servers (startup: spawn to first answer, median / worst; /stream: ms above the Voice"
        " API's own, p50 / p99 / first, then the API's own p50 and a floor round trip):",
        "server={server} | startup s={startup} | floor startup s={floor_startup_s:.2f}"
        " | peak MB={memory} | floor peak MB={floor_memory} | /stream={stream[p50_ms]:.1f}"
        " / {stream[p99_ms]:.1f} / {stream[first_ms]:.0f} (API {stream[api_p50_ms]:.1f}, floor"
        " {stream[floor_round_trip_p50_ms]:.1f}) | soak={soak[rps]:,.0f} req/s, {soak[errors]}"
        " errors, {soak[unrecorded]} unrecorded, {soak[legs_left]} legs left",
    ),
    "workers": (
        "Workers (Gunicorn, WEB_CONCURRENCY=1 / 2; answered: workers of the 2 that served):",
        "server={server} | conns={connections} | 1 worker req/s={one[rps]:,.0f}"
        " | 2 workers req/s={two[rps]:,.0f} | x={two_vs_one:.2f}"
        " | p99={one[p99_ms]:.2f} / {two[p99_ms]:.2f} | CPU={one[cpu_us]:.0f} / {two[cpu_us]:.0f}"
        " | store CPU={one[store_cpu_us]:.0f} / {two[store_cpu_us]:.0f}"
        " | peak MB={memory_mb[one][peak]:.0f} / {memory_mb[two][peak]:.0f}"
        " | answered={workers_that_answered} | errors={errors}",
    ),
    "quorum": (
        f"Quorum (QUORUM={QUORUM}, {CALLERS_PER_ROUND} callers at once; answer ms p50/p99):",
        "setup={setup} | rounds={rounds} | wrong={wrong_rounds} | unrecorded={unrecorded}"
        " | processes={processes_that_answered}"
        " | answer ms={answer_p50_ms:.1f} / {answer_p99_ms:.1f}",
    ),
    "targets": (
        "Targets:",
        "target={target} | server={server} | measured={shown} | limit={limit} | result={result}",
    ),
}


def report(results):
    """The tables for stdout and bench/README.md."""
    machine, stores, plan = results["machine"], results["stores"], results["plan"]
    parts = [
        f"Webhook benchmark, {results['date']}: {machine['cpus']} cores, {machine['cpu']}, Python"
        f" {machine['python']}, {machine['wrk']}, SQLite {stores['sqlite']}, Redis"
        f" {stores['redis'] or '-'}; load average {results['load_average'][0]} before,"
        f" {results['load_average'][1]} after"
    ]
    shown = rows(results)
    for name, (title, columns) in TABLES.items():
        title = title.format(order=", ".join(plan["order"]), seconds=plan["seconds"])
        parts += [title, table(columns, shown[name])]
    return "\n\n".join(parts)


def rows(results):
    """Each table's rows: the results' own, and the few fields that combine them."""
    servers, scaling = results["servers"].items(), results["scaling"].items()
    return {
        "load": [
            {"server": label, **row, "errors": sum(errors(row[s]) for s in SIDES & row.keys())}
            for label, result in servers
            for row in result["load"]
        ],
        "servers": [
            {"server": label, **result, "memory": memory(result["memory_mb"])}
            | {"floor_memory": memory(result["floor_memory_mb"])}
            | {"startup": f"{median(result['startup_s']):.2f} / {max(result['startup_s']):.2f}"}
            for label, result in servers
        ],
        "workers": [
            {"server": f"scenario-2 gunicorn {store}" if side == "app" else "floor"}
            | {"connections": scaled["connections"], **scaled[side]}
            | {"errors": errors(scaled[side]["one"]) + errors(scaled[side]["two"])}
            for store, scaled in scaling
            for side in ("app", "floor")
        ],
        "quorum": [{"setup": label, **rounds} for label, rounds in results["quorum"].items()],
        "targets": results["targets"],
    }


def table(columns, rows):
    """A Markdown table of "header=cell" columns; a cell whose figure a row lacks shows "-"."""
    columns = [column.split("=", 1) for column in columns.split(" | ")]
    lines = [[header for header, _ in columns]]
    lines += [[cell(format_string, row) for _, format_string in columns] for row in rows]
    widths = [max(map(len, column)) for column in zip(*lines, strict=True)]
    lines.insert(1, ["-" * width for width in widths])
    return "\n".join(
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    )


def cell(format_string, row):
    try:
        return format_string.format_map(row)
    except (KeyError, TypeError):
        return "-"


SIDES = {"app", "floor", "store"}


def memory(mb):
    """Peak MB, and for Gunicorn what it is made of."""
    if "worker_hwm" not in mb:
        return f"{mb['peak']:.0f}"
    others = f" + others {mb['other_workers_private']:.0f}" if mb["workers"] > 1 else ""
    parts = f"worker {mb['worker_hwm']:.0f}{others} + arbiter {mb['arbiter_private']:.0f}"
    return f"{mb['peak']:.0f} ({parts})"


def redis_version(server):
    with redis.Redis.from_url(server.url) as client:
        return client.info("server")["redis_version"]


def machine(wrk):
    cpus = [line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line]
    cpu = cpus[0].split(":", 1)[1].strip() if cpus else platform.processor()
    found = {"cpus": os.cpu_count(), "cpu": cpu, "system": platform.platform(), "wrk": wrk}
    found |= {name: metadata.version(name) for name in ("flask", "werkzeug", "gunicorn", "vonage")}
    return found | {"python": platform.python_version()}


if __name__ == "__main__":
    sys.exit(main())
