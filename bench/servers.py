"""The servers under test, started as real processes the way a user starts them."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent

# Every variable the scenarios and gunicorn.conf.py read (settings.py). Each is set in the
# server's environment, which wins over .env, so a developer's .env cannot change what is
# measured (empty = default; run.py sets WEB_CONCURRENCY, which Gunicorn itself also reads and
# would refuse empty).
PROJECT_VARIABLES = (
    "STREAM_URL",
    "STREAM_LEVEL",
    "STREAM_LOOP",
    "CONF_NAME",
    "PUBLIC_URL",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_API_HOST",
    "VONAGE_SIGNATURE_SECRET",
    "CONTROL_TOKEN",
    "QUORUM",
    "HOST",
    "PORT",
    "STATE_URL",
)

START_TIMEOUT = 20  # seconds; far beyond the 1.5 s target, so only a broken server hits it
POLL_INTERVAL = 0.005  # how often to knock while waiting for the first answer


class CouldNotMeasure(Exception):
    """A server or a tool failed, so there is no number to report."""


def session():
    """A requests session for loopback only: no proxies or netrc from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(kind, module, *, floor=False):
    """The command line for `module` (scenario-N, or floor_app) on `kind` ("dev" or "gunicorn").

    dev is what the tutorial runs, `python scenario-N.py` (Flask's threaded development
    server); gunicorn is the README's production command, reading ./gunicorn.conf.py.
    Gunicorn 25.1+ gets --no-control-socket, which changes nothing it serves: its control
    socket has one path per user, so a benchmark server would take it over from (and on exit
    delete it for) any Gunicorn already running on the machine.
    """
    if kind == "dev":
        return [sys.executable, f"bench/{module}.py" if floor else f"{module}.py"]
    extra = ["--pythonpath", "bench"] if floor else []
    if _version("gunicorn") >= (25, 1):
        extra.append("--no-control-socket")
    return [sys.executable, "-m", "gunicorn", *extra, f"{module}:create_app()"]


def _version(package):
    """The installed version of `package` as a tuple of its leading numbers, e.g. (27, 0, 1)."""
    numbers = re.match(r"[\d.]*\d", metadata.version(package))[0]
    return tuple(int(part) for part in numbers.split("."))


class Server:
    """One server process on a free loopback port, run from the project folder.

    `startup` is the seconds from just before the process is spawned to the first 200 from
    GET /webhooks/answer: interpreter start, imports, settings, binding, the first request.
    """

    def __init__(self, label, argv, env, log_path):
        self.label = label
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port)}
        with open(log_path, "ab") as log:
            self.started = time.perf_counter()
            # Its own session (process group), so stopping it also stops a Gunicorn worker.
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.startup = self._wait_for_first_answer()
        except BaseException:
            self.stop()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def url(self, path):
        return self.base + path

    def _wait_for_first_answer(self):
        http = session()
        while True:
            try:
                response = http.get(self.url("/webhooks/answer"), timeout=START_TIMEOUT)
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    raise CouldNotMeasure(
                        f"{self.label} exited with status {self.process.returncode}:\n"
                        + self.log_tail()
                    ) from None
                if time.perf_counter() - self.started > START_TIMEOUT:
                    raise CouldNotMeasure(
                        f"{self.label} did not answer within {START_TIMEOUT} s"
                    ) from None
                time.sleep(POLL_INTERVAL)
                continue
            elapsed = time.perf_counter() - self.started
            if response.status_code != 200:
                raise CouldNotMeasure(
                    f"{self.label}: the first answer webhook got {response.status_code}"
                )
            return elapsed

    def log_tail(self, lines=20):
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def log_size(self):
        return self.log_path.stat().st_size

    def log_since(self, offset):
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def workers(self):
        """Gunicorn's worker pids (its arbiter's children); none for the development server."""
        return _children(self.process.pid)

    def memory_mb(self):
        """Peak memory in MB: "peak", the server's total, and what it is made of.

        The dev server is one process: its VmHWM (peak resident set). Gunicorn is an arbiter
        (the process started, which only supervises) and its workers, forked from it (which
        serve). Their VmHWMs cannot be added: after the fork they share most of the arbiter's
        pages, which each one's resident set counts. So the total is the largest worker's
        VmHWM, plus every other worker's private memory (pages no other process maps, from
        smaps_rollup; what it holds now, as Linux keeps no peak of it), plus the arbiter's
        private memory: every page is counted once. With one worker that is its VmHWM plus the
        arbiter's private memory; the arbiter's own VmHWM is reported beside it.
        """
        pid = self.process.pid
        workers = self.workers()
        if not workers:
            return {"peak": _vm_hwm_mb(pid), "server_hwm": _vm_hwm_mb(pid)}
        peaks = sorted((_vm_hwm_mb(worker), worker) for worker in workers)
        largest, others = peaks[-1][0], sum(_private_mb(worker) for _, worker in peaks[:-1])
        arbiter_private = _private_mb(pid)
        return {
            "peak": largest + others + arbiter_private,
            "workers": len(workers),
            "worker_hwm": largest,
            "other_workers_private": others,
            "arbiter_private": arbiter_private,
            "arbiter_hwm": _vm_hwm_mb(pid),
        }

    def bytes_written(self):
        """Bytes each Gunicorn worker has written to sockets and files so far, by pid: a worker
        whose count grows has answered requests (/proc/PID/io's wchar)."""
        return {worker: _wchar(worker) for worker in self.workers()}

    def cpu_seconds(self):
        """CPU time (user + system) the server's processes have used so far, threads included.

        Unlike requests per second, this hardly moves when other work shares the machine, so it
        tells what each request costs the server even on a busy machine (10 ms resolution).
        """
        pids = [self.process.pid, *_children(self.process.pid)]
        return sum(_cpu_seconds(pid) for pid in pids)

    def stop(self):
        """Stop the server (SIGINT: Gunicorn's quick shutdown, KeyboardInterrupt for the dev
        server; SIGTERM makes Gunicorn wait seconds for idle keep-alive connections), or kill
        its process group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _children(pid):
    """The pids whose parent is `pid`, from /proc (Linux)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after it.
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _cpu_seconds(pid):
    stat = Path(f"/proc/{pid}/stat").read_text()
    utime, stime = stat[stat.rindex(")") + 2 :].split()[11:13]  # fields 14 and 15 of stat
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def _wchar(pid):
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise CouldNotMeasure(f"no wchar for process {pid}")


def _private_mb(pid):
    """Resident memory that only this process maps, in MB (Linux 4.14+)."""
    fields = dict(
        line.split(":", 1)
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    )
    return sum(int(fields[name].split()[0]) for name in ("Private_Clean", "Private_Dirty")) / 1024


def _vm_hwm_mb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # the kernel reports kB
    raise CouldNotMeasure(f"no VmHWM for process {pid}")


class RedisServer:
    """A real `redis-server` for scenario 2's store, on a free loopback port, its files in
    `folder`; stopped (and its files gone with the folder) when the benchmark ends.

    It keeps its data in memory only (no snapshot, no append-only file), as the tests run it:
    what Redis does to keep data across its own restarts is Redis's configuration, not ours.
    Its CPU time is read like a server's: what each request costs the store itself.
    """

    def __init__(self, folder):
        self.port = free_port()
        self.log_path = folder / "redis.log"
        self.databases = 16  # redis-server's default; each measured server gets its own
        self._next_db = 0
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(folder),
            "--save", "",
            "--appendonly", "no",
            "--databases", str(self.databases),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.perf_counter() + START_TIMEOUT
        while not self._answers_ping():
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise CouldNotMeasure(f"redis-server did not start:\n{tail}")
            time.sleep(POLL_INTERVAL)

    def _answers_ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def fresh_url(self):
        """A STATE_URL on a database no other server of this run has used."""
        if self._next_db == self.databases:
            raise CouldNotMeasure(f"more than {self.databases} Redis databases wanted")
        self._next_db += 1
        return f"redis://127.0.0.1:{self.port}/{self._next_db - 1}"

    def version(self):
        done = subprocess.run(["redis-server", "--version"], capture_output=True, text=True)
        found = re.search(r"v=(\S+)", done.stdout)
        return found[1] if found else done.stdout.strip()

    def cpu_seconds(self):
        return _cpu_seconds(self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
