"""Settings for both scenarios, read from the environment and a `.env` file.

Every problem is collected and reported together, one line each, naming the variable, the
bad value (never a secret) and what is allowed, so a user fixes everything in one go.
"""

import errno
import os
import re
import socket
import sys
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

import click  # Flask's own command-line library

# `cryptography` arrives with the SDK (vonage-jwt needs PyJWT[crypto]); we use it to check the
# key at startup instead of failing on the first API call.
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dotenv import dotenv_values

import conference_store

PROJECT_DIR = Path(__file__).resolve().parent

# Vonage's public sample file, the one the tutorial plays.
DEFAULT_STREAM_URL = (
    "https://nexmo-community.github.io/ncco-examples/assets/voice_api_audio_streaming.mp3"
)
DEFAULT_CONF_NAME = "Soothing Conference"
HINT = "see .env.example"


class SettingsError(Exception):
    """One or more settings are wrong; `problems` holds one line per problem."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    stream_url: str = DEFAULT_STREAM_URL
    stream_level: float | None = None
    stream_loop: int | None = None
    conf_name: str = DEFAULT_CONF_NAME
    host: str = "localhost"
    port: int = 9000
    # How many proxies in front of the server add X-Forwarded-For; 0: trust none of it.
    trusted_proxies: int = 0
    application_id: str | None = None
    # The key as PKCS#8 PEM text, the only form the SDK takes as a string.
    private_key: str | None = None
    api_host: str | None = None
    quorum: int | None = None  # scenario 2: hold music until this many callers are in
    # Scenario 2: where the conference's state lives (conference_store/). May hold a password.
    state_url: str = conference_store.DEFAULT_URL
    # Where Vonage reaches this server: PUBLIC_URL, else the Codespace's forwarded port.
    public_url: str | None = None
    # Secrets: never printed (see __repr__), except the control token in the owner's links on
    # a terminal (see banner).
    signature_secret: str | None = None
    control_token: str | None = None

    def __repr__(self):
        # Keep secrets out of tracebacks, logs and test output.
        shown = {k: ("<set>" if v and k in _SECRETS else v) for k, v in vars(self).items()}
        shown["state_url"] = conference_store.masked(self.state_url)
        return f"Settings({shown})"


_SECRETS = {"private_key", "signature_secret", "control_token"}


def read_environment(dotenv_path=PROJECT_DIR / ".env"):
    """The `.env` file's values, overridden by the real environment."""
    return {**dotenv_values(dotenv_path), **os.environ}


def load(env, *, voice_api=False):
    """Build Settings from a mapping; with `voice_api`, also the credentials scenario 2 needs.

    Raises SettingsError listing every problem found.
    """
    problems = []
    values = {}

    def take(name, field, parse, shown=repr):
        raw = (env.get(name) or "").strip()
        if not raw:  # unset or empty: the default
            return
        try:
            values[field] = parse(raw)
        except ValueError as error:
            problems.append(f"{name}={shown(raw)} is not allowed: {error} ({HINT})")

    take("STREAM_URL", "stream_url", _http_url)
    take("STREAM_LEVEL", "stream_level", _level)
    take("STREAM_LOOP", "stream_loop", _loop)
    take("HOST", "host", str)
    take("PORT", "port", _port)
    take("TRUSTED_PROXIES", "trusted_proxies", _proxies)
    take("PUBLIC_URL", "public_url", _public_url)
    secret = (env.get("VONAGE_SIGNATURE_SECRET") or "").strip()
    if secret:
        values["signature_secret"] = secret
    if "public_url" not in values and env.get("CODESPACE_NAME"):
        # GitHub forwards each port of a Codespace to https://NAME-PORT.DOMAIN.
        domain = env.get("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN") or "app.github.dev"
        port = values.get("port", Settings.port)
        values["public_url"] = f"https://{env['CODESPACE_NAME']}-{port}.{domain}"
    if voice_api:
        take("CONF_NAME", "conf_name", str)
        take("QUORUM", "quorum", _quorum)
        # Its password, if any, is never shown.
        take("STATE_URL", "state_url", conference_store.check_url, _masked_url)
        take("VONAGE_API_HOST", "api_host", _api_host)
        take("VONAGE_APPLICATION_ID", "application_id", _application_id)
        token = (env.get("CONTROL_TOKEN") or "").strip()
        if token and not re.fullmatch(r"[A-Za-z0-9_~.-]{16,}", token):
            # Never echo a secret, even a bad one.
            problems.append(
                f"CONTROL_TOKEN is not allowed ({len(token)} characters): use at least 16 of "
                "A-Z a-z 0-9 - _ . ~, e.g. from: python3 -c 'import secrets; "
                f"print(secrets.token_urlsafe(24))' ({HINT})"
            )
        elif token:
            values["control_token"] = token
        if "application_id" not in values and not any(
            p.startswith("VONAGE_APPLICATION_ID") for p in problems
        ):
            problems.append(
                "VONAGE_APPLICATION_ID is not set: copy your application's id from the Vonage "
                f"dashboard (Applications) into .env ({HINT})"
            )
        key_setting = (env.get("VONAGE_PRIVATE_KEY") or "").strip() or "private.key"
        try:
            values["private_key"] = read_private_key(key_setting)
        except ValueError as error:
            problems.append(f"VONAGE_PRIVATE_KEY: {error} ({HINT})")

    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def load_or_exit(*, voice_api=False):
    """Settings from the environment and .env; on any problem, print one line each and exit 2."""
    try:
        return load(read_environment(), voice_api=voice_api)
    except SettingsError as error:
        print(*error.problems, sep="\n", file=sys.stderr)
        sys.exit(2)


def startup(scenario, *, voice_api=False, browser=(), check_port=False):
    """Load the settings (or exit 2) and print what to paste where, before anything else.

    `browser` lists (what it does, path) for the pages the user opens themselves; with
    `check_port`, exit 2 first if HOST:PORT cannot be listened on.
    """
    settings = load_or_exit(voice_api=voice_api)
    cli = click.get_current_context(silent=True)
    if cli is not None and cli.info_name == "run":
        # `flask run` listens where its own --host and --port say, not HOST and PORT.
        settings = replace(settings, host=cli.params["host"], port=cli.params["port"])
    if check_port:
        exit_unless_can_listen(settings)
    # A hosting platform keeps stdout in its logs: the owner's token goes only to a terminal.
    terminal = sys.stdout.isatty()
    text = banner(settings, scenario, voice_api=voice_api, browser=browser, terminal=terminal)
    print(text, flush=True)
    return settings


def banner(settings, scenario, *, voice_api=False, browser=(), terminal=False):
    """The startup text: the webhook URLs to paste, the pages to open, the settings in effect.

    Only when `terminal` is true do the links carry CONTROL_TOKEN itself, so they can be clicked.
    """
    host = "localhost" if settings.host in ("0.0.0.0", "::") else settings.host
    base = settings.public_url or f"http://{host}:{settings.port}"
    lines = [
        f"{scenario}: in the Vonage dashboard, give your application's Voice capability",
        "these two URLs (Applications > create or edit), then call your Vonage number:",
        f"  Answer URL  {base}/webhooks/answer",
        f"  Event URL   {base}/webhooks/event",
    ]
    if browser:
        lines.append("Open in your browser:")
        token = ""
        if settings.control_token:
            token = f"?token={settings.control_token if terminal else '<CONTROL_TOKEN>'}"
        lines += [f"  {base}{path}{token}  ({what})" for what, path in browser]
        if token and not terminal:
            lines.append(
                "  <CONTROL_TOKEN> is your CONTROL_TOKEN, from .env or the environment: not "
                "printed here, as this output is not a terminal and may be kept in a log."
            )
    if not settings.public_url:
        lines.append(
            "Vonage needs a public HTTPS URL to reach these: run in a GitHub Codespace, or start"
            f" a tunnel (such as `ngrok http {settings.port}`) and set PUBLIC_URL to its https://"
            " address."
        )
    if settings.signature_secret:
        lines.append("Webhooks: only those signed with VONAGE_SIGNATURE_SECRET are accepted.")
    else:
        lines.append(
            "Webhooks are not verified: anyone can fake calls. Set VONAGE_SIGNATURE_SECRET "
            "(dashboard > API Settings > Signature secret) to accept only Vonage's."
        )
    if voice_api and settings.quorum and not urlsplit(settings.stream_url).path.endswith(".mp3"):
        lines.append(
            "Note: Vonage documents hold music (musicOnHoldUrl) as an MP3, and STREAM_URL does "
            "not end in .mp3."
        )
    if browser and not settings.control_token:
        lines.append(
            "Anyone with these links can control the music: set CONTROL_TOKEN to lock them."
        )
    shown = [f"stream {settings.stream_url}"]
    if settings.stream_level is not None:
        shown.append(f"level {settings.stream_level}")
    if settings.stream_loop is not None:
        shown.append(
            f"loop {settings.stream_loop}" + (" (forever)" if not settings.stream_loop else "")
        )
    if voice_api:
        mode = f"hold music until {settings.quorum} callers are in" if settings.quorum else "manual"
        shown += [
            f"conference {settings.conf_name!r}",
            f"mode {mode}",
            f"application {settings.application_id}",
        ]
        shown.append(
            "Voice API " + (settings.api_host or "in each call's region, else api.nexmo.com")
        )
        shown.append("state in " + conference_store.describe(settings.state_url))
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        shown.append(
            f"callers' addresses from X-Forwarded-For ({proxies} "
            + ("proxy)" if proxies == 1 else "proxies)")
        )
    lines.append("Settings: " + ", ".join(shown))
    return "\n".join(lines)


def state_place(url):
    """Where scenario 2's state lives, in words, without a password."""
    if url.startswith("sqlite:"):
        return f"the SQLite file {conference_store.sqlite_path(url)}"
    return f"Redis at {conference_store.masked(url)}"


def exit_unless_can_listen(settings):
    """Exit 2 with a clear line when HOST:PORT cannot be listened on, before the server tries."""
    try:
        socket.getaddrinfo(settings.host, settings.port)
        socket.create_server((settings.host, settings.port)).close()
        return
    except socket.gaierror:
        problem = (
            f"HOST={settings.host!r} is not an address of this machine: use localhost, "
            "127.0.0.1, or 0.0.0.0 for every interface"
        )
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            problem = (
                f"PORT={settings.port} is in use by another program: stop it, or set PORT "
                "to a free port"
            )
        elif error.errno == errno.EACCES:
            problem = f"PORT={settings.port} needs administrator rights: use a port above 1023"
        else:
            problem = (
                f"cannot listen on HOST={settings.host!r} PORT={settings.port}: {error.strerror}; "
                "try HOST=localhost and another PORT"
            )
    exit_with(problem)


def exit_with(problem):
    """Stop start-up with one line: the problem, its fix, and where the settings are explained."""
    print(f"{problem} ({HINT})", file=sys.stderr)
    sys.exit(2)


def _masked_url(raw):
    try:
        return repr(conference_store.masked(raw))
    except ValueError:  # too broken to find the password in: show none of it
        return "(not shown)"


def _public_url(raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("give the public base URL Vonage reaches, such as https://abc.ngrok.app")
    return raw.rstrip("/")


def _http_url(raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", raw):
        raise ValueError("give an http:// or https:// URL of an MP3 or 16-bit WAV file")
    return raw


def _level(raw):
    # Vonage takes -1 to 1 "with a precision of 0.1" (Voice API reference, PUT /stream).
    try:
        level = Decimal(raw)
    except InvalidOperation:
        level = None
    if level is None or not level.is_finite() or not -1 <= level <= 1 or level % Decimal("0.1"):
        raise ValueError("give a number from -1 to 1 in steps of 0.1, such as 0.5")
    return float(level)


def _quorum(raw):
    if not raw.isdigit() or int(raw) < 2:
        raise ValueError("give a whole number of callers, 2 or more, or leave it empty")
    return int(raw)


def _loop(raw):
    if not raw.isdigit():
        raise ValueError("give a whole number: how many times to play, 0 for forever")
    return int(raw)


def _port(raw):
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError("give a port number from 1 to 65535, such as 9000")
    return int(raw)


def _proxies(raw):
    if not re.fullmatch(r"[0-9]+", raw):
        raise ValueError(
            "give how many proxies in front of this server add X-Forwarded-For: a whole "
            "number, such as 1 behind one load balancer, or 0 for none"
        )
    return int(raw)


def _api_host(raw):
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", raw):
        raise ValueError("give host[:port] without https://, such as api-us.vonage.com")
    return raw


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _application_id(raw):
    if not _UUID.fullmatch(raw):
        raise ValueError(
            "an application id looks like aaaaaaaa-bbbb-cccc-dddd-0123456789ab; copy it from "
            "the Vonage dashboard (Applications), not the API key"
        )
    return raw


def read_private_key(setting):
    """Return the RSA private key as PKCS#8 PEM text, from a path or from the PEM text itself.

    Raises ValueError with a message that never contains the key.
    """
    if "-----BEGIN" in setting:
        # Cloud hosts often keep newlines as the two characters backslash and n.
        data = setting.replace("\\n", "\n").encode()
        origin = "the PEM text in VONAGE_PRIVATE_KEY"
    elif len(setting) > 255 or "\n" in setting:
        # Likely key material without its BEGIN line: say so without echoing it.
        raise ValueError(
            "the value is neither a file path nor PEM text starting with '-----BEGIN': give "
            "the path to private.key, or the whole key with its BEGIN and END lines"
        )
    else:
        path = Path(setting).expanduser()
        if not path.is_absolute():
            path = PROJECT_DIR / path
        origin = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ValueError(
                f"no key file at {path}: save the private.key file that Vonage gave you when you "
                "created the application there, or set VONAGE_PRIVATE_KEY to its path"
            ) from None
        except OSError as error:
            raise ValueError(
                f"cannot read {path}: {error.strerror}; point VONAGE_PRIVATE_KEY at the key "
                "file itself and check you may read it"
            ) from None
    if data.strip().startswith(b"-----BEGIN") and b"\n" not in data.strip():
        raise ValueError(
            f"{origin} stops after its first line: in .env, put the whole key in double quotes "
            "or write its newlines as \\n"
        )
    if b"ENCRYPTED" in data:
        raise ValueError(
            f"{origin} is protected by a passphrase; give the unencrypted key Vonage generated"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ValueError(
            f"{origin} is not a private key in PEM form (a block starting with "
            "'-----BEGIN PRIVATE KEY-----'); download a new key from the application's page"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(
            f"{origin} is not an RSA key; Vonage signs with RS256: download a new key pair from "
            "the application's page"
        )
    # A PKCS#1 key ('BEGIN RSA PRIVATE KEY') is fine, but the SDK only takes PKCS#8 text.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
