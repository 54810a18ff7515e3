"""Drive one route with wrk for a fixed time and read its numbers from what wrk prints."""

import os
import re
import shutil
import subprocess

from servers import CouldNotMeasure

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
PERCENTILE = re.compile(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", re.M)
COUNT = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", re.M)
RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def wrk_version():
    if not shutil.which("wrk"):
        return None
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)  # exits 1
    return (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def drive(url, connections, seconds, script, env):
    """One wrk run: requests, req/s, p50/p99 ms, and errors (non-2xx/3xx, socket errors).

    One thread (it leaves the other core to the server); a request slower than the 5 s Vonage
    gives the answer webhook counts as an error.
    """
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    argv += ["-s", str(script), url]
    env = {**os.environ, **env}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, env=env)
    text = done.stdout
    ms = {int(p): float(value) * UNITS[unit] for p, value, unit in PERCENTILE.findall(text)}
    count, rate = COUNT.search(text), RATE.search(text)
    if done.returncode or not (count and rate and int(count[1]) and {50, 99} <= ms.keys()):
        raise CouldNotMeasure(f"wrk measured nothing on {url}:\n{done.stderr or text}")
    non_2xx, sockets = NON_2XX.search(text), SOCKET_ERRORS.search(text)
    run = {"requests": int(count[1]), "seconds": float(count[2]) * UNITS[count[3]] / 1000}
    run |= {"rps": float(rate[1]), "p50_ms": ms[50], "p99_ms": ms[99]}
    run["non_2xx"] = int(non_2xx[1]) if non_2xx else 0
    return run | {"socket_errors": sum(map(int, sockets.groups())) if sockets else 0}
