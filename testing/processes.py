"""The project's servers and a redis-server, run as real processes on free loopback ports.

Neither depends on pytest: a process that does not start raises DidNotStart, which the tests'
fixtures turn into a failure and the benchmark into "could not measure".
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

import settings as config

ROOT = Path(__file__).resolve().parent.parent
# What the servers need to run, as the container image copies it (Dockerfile): every top-level
# module and script, and the folders the apps read.
PROJECT_FILES = sorted(path.name for path in ROOT.glob("*.py"))
PROJECT_FOLDERS = ["conference_store", "templates", "static", "audio"]
START_TIMEOUT = 20  # seconds; far beyond the 1.5 s start-up target, so only a broken server
# The project's variables, and what else changes how the servers behave: a Codespace's
# forwarded URL, a CA bundle, Flask's debug mode, Gunicorn's extra arguments.
NOT_INHERITED = (
    *config.VARIABLE_NAMES,
    "CODESPACE",
    "GITHUB_CODESPACES",
    "REQUESTS_CA_BUNDLE",
    "FLASK_",
    "GUNICORN_CMD_ARGS",
    "VONAGE_SETUP_",  # vonage_setup.py's test-only hosts
)


class DidNotStart(Exception):
    """A server or redis-server exited or did not answer in time; the message says which."""


def clean_env(**settings):
    """The environment with none of the project's variables (by prefix), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_INHERITED)}
    return {**env, **settings}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def session():
    """A requests session for loopback only: no proxies or netrc from the environment."""
    http = requests.Session()
    http.trust_env = False
    return http


def run(project, *command, **settings):
    """Run a script to its end, as a user who just typed `python *command`."""
    return subprocess.run(
        [sys.executable, *command],
        cwd=project,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=30,
    )


class Server:
    """`python *command` ("{port}" in it is the port) as its own process on a free loopback
    port, with `settings` in a clean environment, in `project`, until `stop()`.

    It has started when `ready` (a path) gets any HTTP answer: `startup` is the seconds from
    just before the spawn to that answer, `first_status` its status. Its output goes to `log`
    (appended; by default server-PORT.log in `project`), as on a hosting platform that keeps
    it; with `terminal`, to a pseudo-terminal instead, as when a user types the command.
    """

    stop_signal = signal.SIGTERM

    def __init__(
        self, project, command, settings, *, terminal=False, log=None, ready="/", label=None
    ):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.label = label or " ".join(command)
        defaults = {"HOST": "127.0.0.1", "PORT": str(self.port), "PYTHONUNBUFFERED": "1"}
        env = clean_env(**{**defaults, **settings})
        command = [part.format(port=self.port) for part in command]
        self.terminal = None
        if terminal:
            import pty  # Unix only, so imported only here

            self.terminal, screen = pty.openpty()
            self._shown = b""
            streams = {"stdin": screen, "stdout": screen, "stderr": screen}
        else:
            # A file, not a pipe: a chatty server must never block on a full pipe.
            self.log = Path(log or project / f"server-{self.port}.log")
            self._log_start = self.log.stat().st_size if self.log.exists() else 0
            output = self.log.open("ab")
            streams = {"stdout": output, "stderr": subprocess.STDOUT}
        started = time.perf_counter()
        # Its own session (process group), so stopping it also stops a Gunicorn worker.
        self.process = subprocess.Popen(
            [sys.executable, *command], cwd=project, env=env, start_new_session=True, **streams
        )
        if terminal:
            os.close(screen)  # the server holds it now; we read the other end
        else:
            output.close()
        try:
            self.first_status = self._first_answer(ready, started + START_TIMEOUT)
        except DidNotStart:
            self.stop()
            raise
        self.startup = time.perf_counter() - started

    def _first_answer(self, path, deadline):
        http = session()
        while True:
            try:
                return http.get(self.base + path, timeout=START_TIMEOUT).status_code
            except requests.Timeout:
                raise DidNotStart(f"{self.label} accepted but did not answer") from None
            except requests.ConnectionError:  # not listening yet
                if self.process.poll() is not None:
                    raise DidNotStart(f"{self.label} exited: {self.printed()}") from None
                if time.perf_counter() > deadline:
                    raise DidNotStart(f"{self.label} did not answer on {self.base}") from None
                time.sleep(0.005)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def get(self, path):
        return requests.get(self.base + path, timeout=5)

    def printed(self, since=None):
        """Everything the server has printed so far (or since a byte offset of its log)."""
        if self.terminal is not None:
            return self._read_terminal()
        with self.log.open("rb") as log:
            log.seek(self._log_start if since is None else since)
            return log.read().decode(errors="replace")

    def kill(self):
        """`kill -9`: the process ends at once, with no chance to tidy up."""
        self.process.kill()
        self.process.wait(timeout=10)
        return self.stop()

    def stop(self):
        """Stop the server (or its whole process group, if it will not stop within 10 s) and
        return everything it printed."""
        if self.process.poll() is None:
            self.process.send_signal(self.stop_signal)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.terminal is None:
            return self.printed()
        shown = self._read_terminal()
        if self.terminal >= 0:  # something else still holds the terminal open
            os.close(self.terminal)
            self.terminal = -1
        return shown

    def _read_terminal(self):
        """What reached the terminal so far, with the terminal's \r\n line ends made \n."""
        while self.terminal >= 0 and select.select([self.terminal], [], [], 0.2)[0]:
            try:
                chunk = os.read(self.terminal, 65536)
            except OSError:  # EIO: the server has exited and closed the terminal
                chunk = b""
            if not chunk:
                os.close(self.terminal)
                self.terminal = -1
                break
            self._shown += chunk
        return self._shown.decode(errors="replace").replace("\r\n", "\n")


class RedisServer:
    """A real `redis-server` on a free loopback port, its files in `folder`, in memory only (no
    snapshot, no append-only file: what Redis does to survive its own restart is Redis's
    configuration, not ours).

    `pause()` stops it with SIGSTOP (it keeps its port, so connections hang, as with a frozen
    host); `stop()` ends it; `start()` starts it again on the same port with the same data.
    """

    def __init__(self, folder, *options):
        self.folder, self.port, self.options = Path(folder), free_port(), options
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        redis_server = shutil.which("redis-server")
        if redis_server is None:
            raise DidNotStart("redis-server is not installed (apt-get install redis-server)")
        command = [
            redis_server,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "no",
            *self.options,
        ]  # fmt: skip
        with (self.folder / "redis.log").open("a") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up, maybe locked
                        return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.01)
        self.stop()
        raise DidNotStart(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
