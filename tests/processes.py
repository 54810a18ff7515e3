"""Run the project's servers as real processes, the way a user starts them."""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = [
    "scenario-1.py",
    "scenario-2.py",
    "settings.py",
    "voice_api.py",
    "webhooks.py",
    "conference_store.py",
    "gunicorn.conf.py",
    "setup-vonage.py",
    "vonage_setup.py",
]


def clean_env(**settings):
    """The environment with none of the project's variables, plus `settings`."""
    ours = (
        "STREAM_",
        "CONF_NAME",
        "VONAGE_",
        "HOST",
        "PORT",
        "TRUSTED_PROXIES",
        "PUBLIC_URL",
        "CONTROL_TOKEN",
        "CODESPACE",
        "GITHUB_CODESPACES",
        "REQUESTS_CA_BUNDLE",
        "FLASK_",
        "STATE_URL",
        "WEB_CONCURRENCY",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    return {**env, **settings}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(project, script, **settings):
    """Run a script to its end, as a user who just typed `python script`."""
    return subprocess.run(
        [sys.executable, script],
        cwd=project,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=30,
    )


class Server:
    """A script or server command running as its own process on a free loopback port.

    Its output goes to a file, as on a hosting platform that keeps it; with `terminal`, to a
    pseudo-terminal instead, as when a user types the command in one.
    """

    def __init__(self, project, command, settings, terminal=False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
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
            self.output = (project / f"server-{self.port}.log").open("w+")
            streams = {"stdout": self.output, "stderr": subprocess.STDOUT}
        self.process = subprocess.Popen(
            [sys.executable, *command], cwd=project, env=env, text=True, **streams
        )
        if terminal:
            os.close(screen)  # the server holds it now; we read the other end
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(self.base + "/", timeout=2)
                return
            except requests.RequestException:  # not listening yet, or still busy starting
                if self.process.poll() is not None:
                    pytest.fail(f"{command} exited: {self.stop()}")
                time.sleep(0.1)
        pytest.fail(f"{command} did not start listening on {self.base}: {self.stop()}")

    def get(self, path):
        return requests.get(self.base + path, timeout=5)

    def printed(self):
        """Everything the server has printed so far."""
        if self.terminal is not None:
            return self._read_terminal()
        if self.output.closed:
            return self._printed
        self.output.flush()
        self.output.seek(0)
        return self.output.read()

    def kill(self):
        """`kill -9`: the process ends at once, with no chance to tidy up."""
        self.process.kill()
        self.process.wait(timeout=10)
        return self.stop()

    def stop(self):
        """Stop the server (once) and return everything it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.terminal is not None:
            shown = self._read_terminal()
            if self.terminal >= 0:  # something else still holds the terminal open
                os.close(self.terminal)
                self.terminal = -1
            return shown
        if not self.output.closed:
            self._printed = self.printed()
            self.output.close()
        return self._printed

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
    """A real `redis-server` on a free loopback port, its files in `folder`, as a user runs one.

    `pause()` stops it with SIGSTOP (it keeps its port, so connections hang, as with a frozen
    host); `stop()` ends it; `start()` starts it again on the same port with the same data.
    """

    def __init__(self, folder, *options):
        self.folder, self.port, self.options = folder, free_port(), options
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.start()

    def start(self):
        command = [
            shutil.which("redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",  # the tests need no snapshot on disk
            "--appendonly", "no",
            *self.options,
        ]  # fmt: skip
        log = (self.folder / "redis.log").open("a")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith((b"+PONG", b"-NOAUTH")):  # up, maybe locked
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start: {(self.folder / 'redis.log').read_text()}")

    def pause(self):
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)
