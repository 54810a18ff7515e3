"""Drive one route with wrk and read its numbers from the text wrk prints.

wrk runs for a fixed time, not a fixed number of requests: its main thread sleeps for the
whole duration whatever its Lua scripts do, so a run cut short by a request count would still
report the full duration. Each run is therefore a fixed number of seconds at a fixed number of
connections, and reports how many requests that was. One wrk thread is plenty at these rates
and leaves the second core to the server.

The p50 and p99 are wrk's, from its --latency distribution, which wrk corrects for coordinated
omission (it adds the waits that requests held up behind a slow one would have had); the same
for the floor and the scenario, so their ratio is fair.
"""

import os
import re
import shutil
import subprocess

from servers import CouldNotMeasure

# Vonage gives the answer webhook 5 s to return the NCCO; a slower answer counts as an error.
TIMEOUT = "5s"

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_version():
    if not shutil.which("wrk"):
        return None
    # `wrk -v` prints its version and usage, and exits 1.
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def drive(url, connections, seconds, script=None, env=None):
    """One wrk run: requests, req/s, p50/p99 ms, and errors (non-2xx/3xx, socket errors).

    `script` is a wrk Lua script, `env` extra environment variables for it.
    """
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", TIMEOUT]
    if script:
        argv += ["-s", str(script)]
    done = subprocess.run(
        [*argv, url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise CouldNotMeasure(f"wrk failed on {url}: {done.stderr.strip() or done.stdout}")
    try:
        return parse(done.stdout)
    except ValueError as error:
        raise CouldNotMeasure(
            f"wrk printed nothing to measure for {url}:\n{done.stdout}"
        ) from error


def parse(text):
    """The numbers in wrk's --latency output; ValueError if it has none (no request finished)."""
    percentiles = {
        int(p): float(value) * UNITS[unit]
        for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    count = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not (count and rate and {50, 99} <= percentiles.keys()) or int(count[1]) == 0:
        raise ValueError("no latency distribution")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "requests": int(count[1]),
        "seconds": float(count[2]) * UNITS[count[3]] / 1000,
        "rps": float(rate[1]),
        "p50_ms": percentiles[50],
        "p99_ms": percentiles[99],
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": sum(map(int, sockets.groups())) if sockets else 0,
    }
