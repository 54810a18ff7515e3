"""The webhook benchmark: `python bench/run.py [--quick] [--json PATH]`.

Each scenario runs as a real process on Flask's development server (`python scenario-N.py`,
what the tutorial runs) and on Gunicorn (the README's production command, with the project's
gunicorn.conf.py), each beside its floor: a bare Flask app returning the same bytes on the
same kind of server (floor_app.py). Then, over loopback:

1. wrk drives GET /webhooks/answer and POST /webhooks/event at 1, 16 and 64 connections,
   the floor and the scenario in turn, for a fixed time each (see loadgen.py for why);
2. /stream is timed against a fake Voice API that answers after 50 ms (scenario 2);
3. each server's time from spawn to its first answered webhook, and its peak memory;
4. a soak of 2,000 simulated calls through scenario 2, after which no leg may be live.

It prints Markdown tables and writes JSON (bench/results.json unless --json says otherwise).
Targets are PASS or MISS; the exit status is non-zero only if something could not be measured.
--quick runs every part, small, for CI: one concurrency level, 1 s runs, 200 calls, and
scenario 1 on the development server only.
"""

import argparse
import datetime
import json
import math
import os
import platform
import random
import ssl
import sys
import tempfile
import time
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
from servers import PROJECT_VARIABLES, CouldNotMeasure, Server, command, session

BENCH = Path(__file__).resolve().parent

SERVERS = [  # label, module, server kind
    ("scenario-1 dev", "scenario-1", "dev"),
    ("scenario-1 gunicorn", "scenario-1", "gunicorn"),
    ("scenario-2 dev", "scenario-2", "dev"),
    ("scenario-2 gunicorn", "scenario-2", "gunicorn"),
]

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
CALLER = {"from": "447700900000", "to": "447700900001", "conversation_uuid": "CON-bench"}
# What Vonage sends: the answer webhook as GET with the call in the query string, events as
# POST with JSON. The same leg every time, so scenario 2 holds one leg however long the run.
ANSWER = "/webhooks/answer?uuid=bench-leg&" + "&".join(f"{k}={v}" for k, v in CALLER.items())
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

API_DELAY = 0.050  # seconds the fake Voice API takes to answer
NO_ONE_HERE = "no one is in the conference yet"  # scenario 2's 409 when no leg is live
SOAK_CALLERS = 32
SEED = 2023  # the soak's order is random, but the same every run
SETTLE = 0.2  # seconds between wrk runs, for the server to finish requests wrk abandoned

# The targets.
ANSWER_RPS_VS_FLOOR = 0.9
P99_VS_FLOOR = 1.2
PRODUCTION_VS_DEV = 1.5
STREAM_P50_MS = 3.0
STARTUP_S = 1.5
MEMORY_MB = 80


@dataclass(frozen=True)
class Plan:
    """How much to measure."""

    servers: tuple = tuple(label for label, _, _ in SERVERS)
    connections: tuple = (1, 16, 64)
    # The wrk runs for each route and concurrency, in this order. Floor, app, app, floor
    # cancels a drift in the machine's speed (another process, a CPU clock) out of the ratio.
    order: tuple = ("floor", "app", "app", "floor")
    seconds: int = 2  # each wrk run
    warmup_seconds: int = 1  # per route and server before its runs, not reported
    starts: int = 3  # startup is reported as the median and worst of this many starts
    stream_samples: int = 100
    soak_calls: int = 2000


FULL = Plan()
# Every part, small, under 30 s: scenario 1 on Gunicorn adds nothing the others do not test.
QUICK = Plan(
    servers=("scenario-1 dev", "scenario-2 dev", "scenario-2 gunicorn"),
    connections=(16,),
    order=("floor", "app"),
    seconds=1,
    warmup_seconds=0,
    starts=1,
    stream_samples=10,
    soak_calls=200,
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
            servers = measure(plan, Path(folder))
    except CouldNotMeasure as error:
        print(f"could not measure: {error}", file=sys.stderr)
        return 1
    results = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(wrk),
        # Other work on the machine skews the numbers: the 1-minute load before and after.
        "load_average": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "plan": asdict(plan) | {"quick": args.quick},
        "servers": servers,
    }
    results["targets"] = judge(servers, plan)
    results["seconds"] = round(time.monotonic() - started, 1)
    print(report(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nWrote {args.json} in {results['seconds']} s.")
    return 0


def progress(message):
    print(message, file=sys.stderr, flush=True)


def measure(plan, folder):
    """Every server's numbers, by label; `folder` holds the key, the certificates and logs."""
    fake = FakeVoiceApi(folder, delay=API_DELAY)
    try:
        env = server_environment(write_private_key(folder), fake)
        # Scenario 2's state in this run's folder, never in the project's own file.
        env["STATE_URL"] = f"sqlite:///{folder}/conference.sqlite3"
        return {
            label: measure_server(plan, label, module, kind, env, fake, folder)
            for label, module, kind in SERVERS
            if label in plan.servers
        }
    finally:
        fake.stop()


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


def measure_server(plan, label, module, kind, env, fake, folder):
    """Start one scenario on one kind of server, and its floor, and measure them."""
    log = folder / f"{label.replace(' ', '-')}.log"
    floor_log = folder / f"{label.replace(' ', '-')}-floor.log"
    argv = command(kind, module)
    progress(f"{label}: starting {plan.starts} time(s)")
    startups = []
    for _ in range(plan.starts - 1):  # extra starts, for the startup time alone
        with Server(label, argv, env, log) as server:
            startups.append(server.startup)
    with ExitStack() as running:
        app = running.enter_context(Server(label, argv, env, log))
        startups.append(app.startup)
        answer, event = responses(app)
        floor_env = {**env, "FLOOR_BODY": answer[0].hex(), "FLOOR_CONTENT_TYPE": answer[1]}
        floor_argv = command(kind, "floor_app", floor=True)
        floor = running.enter_context(Server(f"{label} floor", floor_argv, floor_env, floor_log))
        if responses(floor) != (answer, event):
            raise CouldNotMeasure(f"{label}: the floor does not return the scenario's bytes")

        result = {
            "command": " ".join(argv[1:]),
            "startup_s": startups,
            "floor_startup_s": floor.startup,
            "load": load(plan, label, app, floor),
        }
        if module == "scenario-2":
            progress(f"{label}: /stream and the soak")
            result["stream"] = time_stream(plan, app, floor, fake)
            result["soak"] = soak(plan, app, fake)
        result["memory_mb"] = app.memory_mb()
        result["floor_memory_mb"] = floor.memory_mb()
    return result


def responses(server):
    """(body, content type) of the answer and event webhooks, as the load will send them."""
    http = session()
    answer = http.get(server.url(ANSWER), timeout=5)
    event = http.post(server.url(EVENT), json=EVENT_BODY, timeout=5)
    for response in (answer, event):
        if response.status_code != 200:
            raise CouldNotMeasure(f"{server.label}: {response.url} got {response.status_code}")
    return tuple((r.content, r.headers["Content-Type"]) for r in (answer, event))


def load(plan, label, app, floor):
    """wrk on each route at each concurrency, the floor and the app in turn (plan.order)."""
    rows = []
    routes = [("answer", ANSWER, {}), ("event", EVENT, {"EVENT_BODY": json.dumps(EVENT_BODY)})]
    for route, path, env in routes:
        script = None if route == "answer" else POST_EVENT
        if plan.warmup_seconds:
            for server in (floor, app):
                loadgen.drive(server.url(path), 16, plan.warmup_seconds, script, env)
                time.sleep(SETTLE)
        for connections in plan.connections:
            progress(f"{label}: {route} at {connections} connection(s)")
            runs = {"floor": [], "app": []}
            for name in plan.order:
                server = app if name == "app" else floor
                cpu = server.cpu_seconds()
                run = loadgen.drive(server.url(path), connections, plan.seconds, script, env)
                time.sleep(SETTLE)  # within the CPU time: the server is finishing wrk's requests
                run["cpu_us"] = (server.cpu_seconds() - cpu) / run["requests"] * 1e6
                runs[name].append(run)
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


def combine(runs):
    """One side's runs as one: all requests over all seconds, and the mean of each percentile."""
    requests_made = sum(run["requests"] for run in runs)
    seconds = sum(run["seconds"] for run in runs)
    return {
        "requests": requests_made,
        "seconds": seconds,
        "rps": requests_made / seconds,
        "p50_ms": sum(run["p50_ms"] for run in runs) / len(runs),
        "p99_ms": sum(run["p99_ms"] for run in runs) / len(runs),
        "cpu_us": sum(run["cpu_us"] * run["requests"] for run in runs) / requests_made,
        "non_2xx": sum(run["non_2xx"] for run in runs),
        "socket_errors": sum(run["socket_errors"] for run in runs),
        "runs": runs,
    }


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
        "server_tracebacks": app.log_since(log_offset).count("Traceback"),
    }
    result["ok"] = (
        not errors
        and result["legs_empty"]
        and not result["api_requests"]
        and not result["server_tracebacks"]
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


def percentile(values, p):
    """Nearest-rank percentile: the smallest value with at least p% of values at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def judge(servers, plan):
    """Each target, for each server it applies to: measured value, limit and PASS/MISS."""
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
        worst = min(answers, key=lambda row: row["rps_vs_floor"])
        target(
            "answer req/s vs floor (worst concurrency)",
            label,
            worst["rps_vs_floor"],
            f">= {ANSWER_RPS_VS_FLOOR}x",
            worst["rps_vs_floor"] >= ANSWER_RPS_VS_FLOOR,
            f"{worst['rps_vs_floor']:.2f}x at {worst['connections']}",
        )
        at_most = next(row for row in answers if row["connections"] == most)
        target(
            f"answer p99 vs floor at {most} connections",
            label,
            at_most["p99_vs_floor"],
            f"<= {P99_VS_FLOOR}x",
            at_most["p99_vs_floor"] <= P99_VS_FLOOR,
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
                f"{soaked['errors']} errors, " + ("empty" if soaked["legs_empty"] else "NOT empty"),
            )

    for module in sorted({module for _, module, _ in SERVERS}):
        if not {f"{module} dev", f"{module} gunicorn"} <= servers.keys():
            continue  # --quick leaves scenario 1 on Gunicorn out
        dev, production = servers[f"{module} dev"], servers[f"{module} gunicorn"]
        rps = [
            next(
                r["app"]["rps"]
                for r in s["load"]
                if r["route"] == "answer" and r["connections"] == most
            )
            for s in (dev, production)
        ]
        target(
            f"gunicorn vs dev server, answer req/s at {most}",
            module,
            rps[1] / rps[0],
            f">= {PRODUCTION_VS_DEV}x",
            rps[1] / rps[0] >= PRODUCTION_VS_DEV,
            f"{rps[1] / rps[0]:.2f}x",
        )
    return targets


def report(results):
    """The tables for stdout and the README."""
    load_rows, server_rows = [], []
    for label, result in results["servers"].items():
        for row in result["load"]:
            app, floor = row["app"], row["floor"]
            errors = sum(run["non_2xx"] + run["socket_errors"] for run in (app, floor))
            load_rows.append(
                [
                    label,
                    row["route"],
                    row["connections"],
                    f"{app['rps']:,.0f}",
                    f"{app['p50_ms']:.2f}",
                    f"{app['p99_ms']:.2f}",
                    f"{app['cpu_us']:.0f}",
                    f"{floor['rps']:,.0f}",
                    f"{floor['p50_ms']:.2f}",
                    f"{floor['p99_ms']:.2f}",
                    f"{floor['cpu_us']:.0f}",
                    f"{row['rps_vs_floor']:.2f}",
                    f"{row['p99_vs_floor']:.2f}",
                    f"{row['cpu_vs_floor']:.2f}",
                    errors,
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
                f"{soaked['rps']:,.0f} req/s, {soaked['errors']} errors, "
                + ("legs empty" if soaked["legs_empty"] else "LEGS LEFT")
                if soaked
                else "-",
            ]
        )
    machine = results["machine"]
    order = ", ".join(results["plan"]["order"])
    return "\n\n".join(
        [
            f"Webhook benchmark, {results['date']}: {machine['cpus']} cores, {machine['cpu']}, "
            f"Python {machine['python']}, {machine['wrk']}; load average"
            f" {results['load_average'][0]} before, {results['load_average'][1]} after",
            f"Load (wrk, one thread, loopback; per row and side, {order} runs of"
            f" {results['plan']['seconds']} s: req/s over all, p50/p99 ms the runs' mean, CPU the"
            " server's CPU µs per request; x: the scenario over its floor):",
            markdown_table(
                [
                    "server",
                    "route",
                    "conns",
                    "req/s",
                    "p50",
                    "p99",
                    "CPU",
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
