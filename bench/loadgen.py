"""Drive one route with wrk for a fixed time and read its numbers from what wrk prints."""

import os
import re
import shutil
import subprocess

from servers import CouldNotMeasure

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


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
    done = subprocess.run(
        [*argv, "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        env={**os.environ, **env},
    )
    text = done.stdout
    percentiles = {
        int(p): float(value) * UNITS[unit]
        for p, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    count = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if (
        done.returncode
        or not (count and rate and {50, 99} <= percentiles.keys())
        or not int(count[1])
    ):
        raise CouldNotMeasure(f"wrk measured nothing on {url}:\n{done.stderr or text}")
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
