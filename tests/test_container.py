"""The container image: built from the Dockerfile with buildah, then its command run for real.

CI reaches no container registry and cannot start containers (`podman run` may not set rlimits
there). So the base image is made from Debian's own packages with debootstrap, under the name
the Dockerfile asks for, and the image's command runs in the image's mounted files through
`chroot --userspec` as the image's user, in its folder, with its environment: what a container
runs, minus the namespaces. Where buildah, podman or debootstrap are missing, or without root,
these tests are skipped; in CI (CI=true) they must run.
"""

import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import APPLICATION_ID

from testing.processes import ROOT, free_port

BASE = "docker.io/library/debian:bookworm-slim"
TOOLS = ("buildah", "podman", "debootstrap")
MAX_ADDED_MB = 250
# Files that must never reach the image, planted in the build context to prove it.
PLANTED = (
    ".env",
    "private.key",
    "conference.sqlite3",
    "conference.sqlite3-wal",
    "conference.sqlite3-shm",
    ".venv/pyvenv.cfg",
    "templates/.env",
    "templates/private.key",
)
STATE_SUFFIXES = (".sqlite3", ".sqlite3-wal", ".sqlite3-shm")
CONFERENCE_NCCO = [
    {"action": "talk", "text": "Please wait while we connect you to the conference"},
    {"action": "conversation", "name": "Soothing Conference"},
]


def require_tools():
    # debootstrap lives in /usr/sbin, outside a user's PATH.
    search = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    missing = [name for name in TOOLS if shutil.which(name, path=search) is None]
    if missing:
        problem = f"{', '.join(missing)} not installed (sudo apt-get install {' '.join(missing)})"
    elif os.geteuid() != 0:
        problem = "making the base image and building with chroot isolation need root"
    else:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem}: CI must build and run the container image")
    pytest.skip(problem)


def tool(*command, timeout=120):
    """Run a container tool; on failure, fail the test with what it printed."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(command[:3])} failed ({result.returncode}):\n{result.stderr[-3000:]}"
        )
    return result.stdout.strip()


def debian_mirrors():
    """This machine's Debian mirror and security mirror, from its apt sources (deb822)."""
    mirror, security = "http://deb.debian.org/debian", None
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    stanzas = sources.read_text().split("\n\n") if sources.exists() else []
    for stanza in stanzas:
        fields = dict(
            line.split(":", 1) for line in stanza.splitlines() if ":" in line and line[0] != "#"
        )
        uri = fields.get("URIs", "").split()[0] if fields.get("URIs", "").split() else None
        suites = fields.get("Suites", "").split()
        if uri and "bookworm" in suites:
            mirror = uri
        elif uri and "bookworm-security" in suites:
            security = uri
    return mirror, security


def make_base_image(rootfs):
    """debian:bookworm-slim from Debian's packages, slimmed as Debian's official images are
    (debuerreotype): no docs, man pages or translations, no apt caches, nothing of this host."""
    mirror, security = debian_mirrors()
    tool("debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror, timeout=600)
    for pattern in (
        "usr/share/doc/*/*",
        "usr/share/man/*",
        "usr/share/info/*",
        "usr/share/locale/*",
    ):
        for path in rootfs.glob(pattern):
            if path.name not in ("copyright", "locale.alias"):
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb"):
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()
    # debootstrap copies the host's resolver and name; a runtime provides its own.
    for name in ("etc/resolv.conf", "etc/hostname", "etc/apt/sources.list"):
        (rootfs / name).unlink(missing_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/docker").write_text(
        "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\n"
        "path-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n"
        "path-exclude /usr/share/locale/*\npath-include /usr/share/locale/locale.alias\n"
    )
    clean = "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"
    (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
        f'DPkg::Post-Invoke {{ "{clean}"; }};\nAPT::Update::Post-Invoke {{ "{clean}"; }};\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
        'Acquire::Languages "none";\nAcquire::GzipIndexes "true";\n'
    )
    keyring = "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    sources = f"Types: deb\nURIs: {mirror}\nSuites: bookworm bookworm-updates\nComponents: main\n"
    sources += keyring
    if security:
        sources += f"\nTypes: deb\nURIs: {security}\nSuites: bookworm-security\n"
        sources += f"Components: main\n{keyring}"
    (rootfs / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["podman", "import", "-", BASE], stdin=tar.stdout, capture_output=True, text=True
    )
    tar.stdout.close()
    tar.wait()
    if imported.returncode != 0 or tar.returncode != 0:
        pytest.fail(f"podman import failed:\n{imported.stderr[-3000:]}")


def lend_pip_settings(home):
    """A home for the build's root user: pip's settings from this machine (its CA bundle, an
    https index), mounted read-only over /root for the RUN steps only. A file mounted anywhere
    else would leave an empty mount point in the image (buildah 1.28); /root already exists."""
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    found = {}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        found[key.rsplit(".", 1)[-1]] = value.strip("'")
    lines = ["[global]"]
    cert = found.get("cert") or os.environ.get("SSL_CERT_FILE")
    if cert and Path(cert).is_file():
        shutil.copy(cert, home / "ca.crt")
        lines.append("cert = /root/ca.crt")
    for name in ("index-url", "extra-index-url"):
        urls = [url for url in found.get(name, "").split() if url.startswith("http")]
        if urls:
            lines.append(f"{name} = {' '.join(urls)}")
    (home / ".config" / "pip").mkdir(parents=True)
    (home / ".config" / "pip" / "pip.conf").write_text("\n".join(lines) + "\n")
    return home


def build_context(context):
    """The project as a user's checkout holds it, plus a .env, a key, a venv and state files."""
    context.mkdir(exist_ok=True)
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, context / name)
    for name in PLANTED:
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(
            "planted by tests/test_container.py: must not be in the image\n"
        )
    return context


class Image:
    """A built image: its name and its configuration."""

    def __init__(self, name):
        self.name = name
        inspected = json.loads(tool("buildah", "inspect", "--type", "image", name))
        self.config = inspected["Docker"]["config"]
        self.env = dict(item.split("=", 1) for item in self.config["Env"])


@pytest.fixture(scope="session")
def base_image(tmp_path_factory):
    """debian:bookworm-slim, made once per machine: a second run finds it by its name."""
    require_tools()
    if subprocess.run(["podman", "image", "exists", BASE]).returncode != 0:
        rootfs = tmp_path_factory.mktemp("base") / "rootfs"
        try:
            make_base_image(rootfs)
        finally:
            shutil.rmtree(rootfs, ignore_errors=True)
    return BASE


@pytest.fixture(scope="session")
def image(base_image, tmp_path_factory):
    """The Dockerfile built with buildah from a copy of the project; removed after the tests."""
    context = build_context(tmp_path_factory.mktemp("context"))
    home = lend_pip_settings(tmp_path_factory.mktemp("build-home"))
    with build(context, f"--volume={home}:/root:ro") as built:
        yield built


@contextlib.contextmanager
def build(context, *options):
    """Build an image from `context` with buildah, yield it, then remove it."""
    name = f"localhost/vonage-audio-stream-test:{uuid.uuid4().hex[:12]}"
    tool(
        "buildah",
        "bud",
        "--isolation=chroot",
        "--pull=never",
        "--format=docker",  # the OCI format has no HEALTHCHECK: buildah would drop it
        f"--tag={name}",
        *options,
        str(context),
        timeout=600,
    )
    try:
        yield Image(name)
    finally:
        subprocess.run(["buildah", "rmi", name], capture_output=True)


@contextlib.contextmanager
def container_of(image):
    """A new container of `image`, its files mounted; unmounted and removed afterwards."""
    name = f"vonage-audio-stream-test-{uuid.uuid4().hex[:12]}"
    tool("buildah", "from", "--pull=never", f"--name={name}", image.name)
    try:
        yield Path(tool("buildah", "mount", name))
    finally:
        subprocess.run(["buildah", "umount", name], capture_output=True)
        subprocess.run(["buildah", "rm", name], capture_output=True)


@pytest.fixture(scope="session")
def mount(image):
    """Mount a fresh container of the image; all removed after the tests."""
    with contextlib.ExitStack() as containers:
        yield lambda: containers.enter_context(container_of(image))


@pytest.fixture(scope="session")
def files(mount):
    """The image's files, as built: for looking, never for running."""
    return mount()


def in_image(image, rootfs, command):
    """argv that runs `command` in the image's files as its user, in its working folder."""
    return [
        "chroot",
        f"--userspec={image.config['User']}",
        str(rootfs),
        "env",
        "-C",
        image.config["WorkingDir"],
        *command,
    ]


class Container:
    """The image's command running as a process in a mounted container, on a free port."""

    def __init__(self, image, rootfs, log, command=None, **settings):
        self.image, self.rootfs = image, rootfs
        self.port = free_port()
        # The environment the Dockerfile sets, then the platform's PORT, then the user's.
        self.env = {**image.env, "PORT": str(self.port), **settings}
        self.output = log.open("w+")
        self.process = subprocess.Popen(
            in_image(image, rootfs, command or image.config["Cmd"]),
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.get("/healthz")
                return
            except OSError:  # not listening yet
                if self.process.poll() is not None:
                    pytest.fail(f"the image's command exited:\n{self.stop()}")
                time.sleep(0.1)
        pytest.fail(f"the image's command did not listen on port {self.port}:\n{self.stop()}")

    def get(self, path):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def health_check(self, **settings):
        """Run the Dockerfile's HEALTHCHECK command as Docker does: in the container, with its
        environment; the exit status is the verdict."""
        kind, *command = self.image.config["Healthcheck"]["Test"]
        if kind == "CMD-SHELL":
            command = ["/bin/sh", "-c", *command]
        return subprocess.run(
            in_image(self.image, self.rootfs, command),
            env={**self.env, **settings},
            capture_output=True,
            text=True,
            timeout=self.image.config["Healthcheck"]["Timeout"] / 1e9,
        )

    def printed(self):
        """What the command has printed so far."""
        if self.output.closed:
            return self._printed
        self.output.seek(0)
        return self.output.read()

    def stop(self):
        """Stop the command (SIGTERM, as a runtime does) and return what it printed."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        if not self.output.closed:
            self._printed = self.printed()
            self.output.close()
        return self._printed


@pytest.fixture(scope="session")
def run_image(image, mount, tmp_path_factory):
    """Start the image's command (or `command`) in a fresh container, with `secrets` (path:
    text) mounted as Docker mounts secrets (root's, readable by all) and `settings`."""
    started = []

    def start(command=None, secrets=(), **settings):
        rootfs = mount()
        for path, text in dict(secrets).items():
            (rootfs / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (rootfs / path.lstrip("/")).write_text(text)
            (rootfs / path.lstrip("/")).chmod(0o444)
        log = tmp_path_factory.mktemp("container") / "output.log"
        started.append(Container(image, rootfs, log, command, **settings))
        return started[-1]

    yield start
    for container in started:
        container.stop()


@pytest.fixture(scope="session")
def scenario_2(run_image, private_pem):
    """The image's own command with an application id and the key as a mounted file."""
    return run_image(
        secrets={"/run/secrets/private.key": private_pem},
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY="/run/secrets/private.key",
    )


def test_the_image_builds_with_scenario_2_on_gunicorn_as_its_command(image):
    assert image.config["Cmd"] == ["python", "serve.py", "scenario-2"]
    assert image.config["WorkingDir"] == "/app"
    assert image.env["HOST"] == "0.0.0.0"
    assert image.env["STATE_URL"] == "sqlite:////data/conference.sqlite3"


def test_the_image_adds_at_most_250_mb_to_its_base(image, base_image):
    # podman's Size: the uncompressed bytes of all of an image's layers in local storage, so
    # the difference is exactly the layers the Dockerfile adds (what `docker history` sums).
    def size(name):
        return int(tool("podman", "image", "inspect", "--format", "{{.Size}}", name))

    added_mb = (size(image.name) - size(base_image)) / 1e6

    assert added_mb <= MAX_ADDED_MB, f"the Dockerfile adds {added_mb:.0f} MB to {base_image}"


def test_the_image_runs_as_a_user_who_may_write_only_in_the_data_volume(image, files):
    def may_write(path):
        return subprocess.run(in_image(image, files, ["test", "-w", path])).returncode == 0

    uid = image.config["User"].partition(":")[0]

    # Numeric, so Kubernetes' runAsNonRoot can check it without the image's /etc/passwd.
    assert uid.isdigit() and int(uid) != 0, f"USER is {image.config['User']!r}: use 10001:10001"
    assert list(image.config["Volumes"]) == ["/data"]
    assert may_write("/data")
    assert not may_write("/app")
    assert not may_write("/app/scenario-2.py")
    assert not may_write("/opt/venv/lib")


def test_the_image_holds_no_secret_venv_or_state_even_when_the_build_context_has_them(files):
    found = []
    for folder, dirs, names in os.walk(files):
        for name in names + dirs:
            if name in (".env", "private.key", ".venv", "pip.conf") or name.endswith(
                STATE_SUFFIXES
            ):
                found.append(str(Path(folder, name).relative_to(files)))

    assert (files / "app" / "scenario-2.py").is_file()  # the walk sees the app
    assert (files / "app" / "templates" / "control.html").is_file()
    assert found == []
    # What the build borrowed from this machine (pip's settings, its CA) stays out too.
    assert sorted(path.name for path in (files / "root").iterdir()) == [".bashrc", ".profile"]


def test_dockerignore_keeps_them_out_even_of_a_copy_of_the_whole_context(base_image, tmp_path):
    # `COPY . .` is a common edit; .dockerignore alone must still hold the line.
    context = build_context(tmp_path / "context")
    (tmp_path / "Dockerfile").write_text(f"FROM {base_image}\nCOPY . /context/\n")
    with build(context, f"--file={tmp_path / 'Dockerfile'}") as image, container_of(image) as root:
        copied = {str(path.relative_to(root / "context")) for path in root.glob("context/**/*")}

    assert "scenario-2.py" in copied
    assert copied & set(PLANTED) == set()


def test_the_command_listens_on_every_interface_at_the_port_the_platform_gives(scenario_2):
    status, _ = scenario_2.get("/webhooks/answer")

    assert status == 200
    assert f"Listening at: http://0.0.0.0:{scenario_2.port} " in scenario_2.printed()


def test_the_image_answers_healthz_and_its_health_check_passes(scenario_2):
    status, body = scenario_2.get("/healthz")
    check = scenario_2.health_check()

    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert check.returncode == 0, check.stderr


def test_the_health_check_fails_when_nothing_answers(scenario_2):
    check = scenario_2.health_check(PORT=str(free_port()))

    assert check.returncode != 0


def test_the_image_answers_the_answer_webhook_with_the_conference_ncco(scenario_2):
    status, body = scenario_2.get("/webhooks/answer?uuid=leg-1&from=447700900001")

    assert status == 200
    assert json.loads(body) == CONFERENCE_NCCO


def test_the_image_takes_the_key_as_pem_text_in_the_environment(run_image, private_pem):
    container = run_image(VONAGE_APPLICATION_ID=APPLICATION_ID, VONAGE_PRIVATE_KEY=private_pem)

    status, body = container.get("/webhooks/answer?uuid=leg-1")

    assert (status, json.loads(body)) == (200, CONFERENCE_NCCO)
    assert "PRIVATE KEY" not in container.stop()


def test_the_image_runs_scenario_1_when_the_command_says_so_and_stops_on_sigterm(run_image):
    container = run_image(["python", "serve.py", "scenario-1"])

    status, body = container.get("/webhooks/answer")
    started = time.monotonic()
    printed = container.stop()

    assert status == 200 and json.loads(body)[0]["action"] == "stream"
    assert container.process.returncode == 0 and time.monotonic() - started < 5, printed


def test_the_conference_lives_in_the_data_volume_and_survives_a_restart(
    image, mount, private_pem, tmp_path
):
    rootfs = mount()
    (rootfs / "run/secrets").mkdir(parents=True, exist_ok=True)
    (rootfs / "run/secrets/private.key").write_text(private_pem)
    settings = {
        "VONAGE_APPLICATION_ID": APPLICATION_ID,
        "VONAGE_PRIVATE_KEY": "/run/secrets/private.key",
    }
    first = Container(image, rootfs, tmp_path / "first.log", **settings)
    first.get("/webhooks/answer?uuid=leg-1&from=447700900001")
    printed = first.stop()

    again = Container(image, rootfs, tmp_path / "again.log", **settings)
    status, body = again.get("/status")
    again.stop()

    assert "state in the SQLite file /data/conference.sqlite3" in printed
    assert (rootfs / "data/conference.sqlite3").stat().st_uid == 10001
    assert status == 200
    assert [leg["uuid"] for leg in json.loads(body)["legs"]] == ["leg-1"]


def test_the_image_plays_its_own_audio_file_to_vonage(run_image):
    container = run_image(
        ["python", "serve.py", "scenario-1"],
        STREAM_URL="audio/hold.mp3",
        PUBLIC_URL="https://calls.example.com",
    )

    answer_status, answer = container.get("/webhooks/answer")
    audio_status, audio = container.get("/audio/hold.mp3")

    assert answer_status == 200
    assert json.loads(answer)[0]["streamUrl"] == ["https://calls.example.com/audio/hold.mp3"]
    assert (audio_status, audio) == (200, (ROOT / "audio" / "hold.mp3").read_bytes())


def test_the_image_runs_scenario_3_with_its_mailbox_in_the_data_volume(run_image, private_pem):
    container = run_image(
        ["python", "serve.py", "scenario-3"],
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=private_pem,
        PUBLIC_URL="https://calls.example.com",
    )

    status, body = container.get("/webhooks/answer?uuid=leg-1&from=447700900001")

    assert status == 200
    assert [action["action"] for action in json.loads(body)] == ["talk", "record", "talk"]
    assert "/data/conference.sqlite3" in container.stop()
