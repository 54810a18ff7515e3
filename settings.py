"""Settings for every scenario: each environment variable declared once, read from the
environment and a `.env` file.

VARIABLES declares each one: its name, the Settings field it fills, how its value is checked,
whether it is a secret and who reads it. `.env.example`, the README's configuration table, the
tests and the benchmark are checked against, or derived from, this one list.

Every problem is collected and reported together, one line each, naming the variable, the
bad value (never a secret) and what is allowed, so a user fixes everything in one go.
"""

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

# `cryptography` arrives with the SDK (vonage-jwt needs PyJWT[crypto]); it checks the key at
# startup instead of failing on the first API call.
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dotenv import dotenv_values
from vonage_voice.models import TtsLanguageCode

import audio
import conference_store

PROJECT_DIR = Path(__file__).resolve().parent

# Vonage's public sample file, the one the tutorial plays.
DEFAULT_STREAM_URL = (
    "https://nexmo-community.github.io/ncco-examples/assets/voice_api_audio_streaming.mp3"
)
DEFAULT_CONF_NAME = "Soothing Conference"
# The most text a `talk` speaks (NCCO reference, talk: "Maximum length is 1500 characters").
MAX_TALK = 1500
# The languages Vonage speaks, as the SDK lists them (TtsLanguageCode).
LANGUAGES = frozenset(code.value for code in TtsLanguageCode)
HINT = "see .env.example"


class SettingsError(Exception):
    """One or more settings are wrong; `problems` holds one line per problem."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    stream_url: str = DEFAULT_STREAM_URL
    stream_seconds: float | None = None  # the length of STREAM_URL's file, when it is ours
    # What callers hear first: text to speak, or the URL of audio to play (GREETING).
    greeting: str | None = None
    greeting_language: str | None = None
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
    # a terminal (see startup.banner).
    signature_secret: str | None = None
    control_token: str | None = None
    # Scenario 3: calls from this number hear the messages (digits, as Vonage sends `from`)...
    mailbox_owner: str | None = None
    mailbox_pin: str | None = None  # ...after entering this PIN, when set
    max_message_seconds: int = 120  # the longest message a caller may leave

    def __repr__(self):
        # Keep secrets out of tracebacks, logs and test output.
        secrets = {v.field for v in VARIABLES if v.secret}
        shown = {k: ("<set>" if v and k in secrets else v) for k, v in vars(self).items()}
        shown["state_url"] = conference_store.masked(self.state_url)
        return f"Settings({shown})"


@dataclass(frozen=True)
class Variable:
    """One environment variable: where it goes, how it is checked, and who reads it."""

    name: str
    field: str | None  # the Settings field it fills; None: read by gunicorn.conf.py
    parse: Callable[[str], object]  # the value, or ValueError saying what is allowed
    # Who reads it: scenario numbers, "setup" (setup-vonage.py) or "Gunicorn" (its own).
    readers: tuple = (1, 2)
    secret: bool = False  # never shown, not even a bad value
    when_empty: str | None = None  # parsed in its place when unset or empty (else the default)
    required: str | None = None  # the problem when unset, for the scenarios that read it
    problem: str = "{name}={shown} is not allowed: {why}"  # how a bad value is reported
    show: Callable[[str], str] = repr  # how a bad value appears in `problem`

    @property
    def used_by(self):
        """Who reads it, as the README's configuration table says, e.g. "1, 2" or "setup"."""
        return ", ".join(map(str, self.readers))


def _public_url(raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("give the public base URL Vonage reaches, such as https://abc.ngrok.app")
    return raw.rstrip("/")


def _http_url(raw):
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or re.search(r"\s", raw):
        raise ValueError(
            "give an http:// or https:// URL of an MP3 or 16-bit WAV file, or audio/NAME.mp3 "
            "for a file of the audio folder"
        )
    return raw


@dataclass(frozen=True)
class LocalAudio:
    """A checked file of the audio folder, until the public URL it is served at is known."""

    name: str
    seconds: float


def _audio(raw):
    """An http(s) URL, or a file of the audio folder (`audio/NAME.mp3`) that Vonage can play."""
    name = audio.local_name(raw)
    if name is not None:
        return LocalAudio(name, audio.check_file(audio.FOLDER / name))
    if raw.startswith("audio/"):
        raise ValueError(
            "name an .mp3 or .wav file right in the audio folder, such as audio/hold.mp3"
        )
    return _http_url(raw)


def _greeting(raw):
    """Text to speak, or (an http(s) URL, or `audio/...`) audio to play."""
    if raw.startswith(("http://", "https://", "audio/")):
        return _audio(raw)
    if len(raw) > MAX_TALK:
        raise ValueError(
            f"give at most {MAX_TALK:,} characters of text ({len(raw):,} given), or audio: "
            "audio/NAME.mp3 or an https:// URL"
        )
    return raw


def _language(raw):
    if raw not in LANGUAGES:
        raise ValueError(
            "give a language Vonage speaks, such as en-GB, es-ES or fr-FR "
            "(https://developer.vonage.com/en/voice/voice-api/concepts/text-to-speech)"
        )
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


def _whole_number(why, low=0, high=None):
    """A parser for a whole number from `low` to `high`, refusing anything else with `why`."""

    def parse(raw):
        if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= (high or int(raw)):
            raise ValueError(why)
        return int(raw)

    return parse


def _api_host(raw):
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", raw):
        raise ValueError("give host[:port] without https://, such as api-us.vonage.com")
    return raw


# What Vonage's application ids look like (setup-vonage.py checks them too).
APPLICATION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _application_id(raw):
    if not APPLICATION_ID.fullmatch(raw):
        raise ValueError(
            "an application id looks like aaaaaaaa-bbbb-cccc-dddd-0123456789ab; copy it from "
            "the Vonage dashboard (Applications), not the API key"
        )
    return raw


def _control_token(raw):
    if not re.fullmatch(r"[A-Za-z0-9_~.-]{16,}", raw):
        raise ValueError(
            "use at least 16 of A-Z a-z 0-9 - _ . ~, e.g. from: python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'"
        )
    return raw


def _phone_number(raw):
    number = re.sub(r"[\s()+-]", "", raw)
    if not number.isascii() or not number.isdigit() or not 6 <= len(number) <= 15:
        raise ValueError(
            "give the owner's phone number with its country code, as Vonage sends it: digits "
            "only, such as 447700900001"
        )
    return number


def _pin(raw):
    if not re.fullmatch(r"[0-9]{4,8}", raw):
        raise ValueError("give 4 to 8 digits, the PIN the owner keys in on the phone")
    return raw


def _masked_url(raw):
    try:
        return repr(conference_store.masked(raw))
    except ValueError:  # too broken to find the password in: show none of it
        return "(not shown)"


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


# In the order their problems are reported.
VARIABLES = (
    Variable("STREAM_URL", "stream_url", _audio),
    Variable("STREAM_LEVEL", "stream_level", _level),
    Variable(
        "STREAM_LOOP",
        "stream_loop",
        _whole_number("give a whole number: how many times to play, 0 for forever"),
    ),
    Variable("GREETING", "greeting", _greeting),
    Variable("GREETING_LANGUAGE", "greeting_language", _language),
    Variable("HOST", "host", str, readers=(1, 2, 3)),
    Variable(
        "PORT",
        "port",
        _whole_number("give a port number from 1 to 65535, such as 9000", 1, 65535),
        readers=(1, 2, 3),
    ),
    Variable(
        "TRUSTED_PROXIES",
        "trusted_proxies",
        _whole_number(
            "give how many proxies in front of this server add X-Forwarded-For: a whole "
            "number, such as 1 behind one load balancer, or 0 for none"
        ),
        readers=(1, 2, 3),
    ),
    Variable("PUBLIC_URL", "public_url", _public_url, readers=(1, 2, 3)),
    Variable("VONAGE_SIGNATURE_SECRET", "signature_secret", str, readers=(1, 2, 3), secret=True),
    Variable("CONF_NAME", "conf_name", str, readers=(2,)),
    Variable(
        "QUORUM",
        "quorum",
        _whole_number("give a whole number of callers, 2 or more, or leave it empty", 2),
        readers=(2,),
    ),
    # Its password, if any, is never shown.
    Variable(
        "STATE_URL", "state_url", conference_store.check_url, readers=(2, 3), show=_masked_url
    ),
    Variable("VONAGE_API_HOST", "api_host", _api_host, readers=(2, 3)),
    Variable(
        "CONTROL_TOKEN",
        "control_token",
        _control_token,
        readers=(2, 3),
        secret=True,
        problem="{name} is not allowed ({length} characters): {why}",
    ),
    Variable(
        "VONAGE_APPLICATION_ID",
        "application_id",
        _application_id,
        readers=(2, 3),
        required=(
            "VONAGE_APPLICATION_ID is not set: run .venv/bin/python setup-vonage.py, or copy "
            "your application's id from the Vonage dashboard (Applications) into .env"
        ),
    ),
    Variable(
        "VONAGE_PRIVATE_KEY",
        "private_key",
        read_private_key,
        readers=(2, 3),
        secret=True,
        when_empty="private.key",
        problem="{name}: {why}",
    ),
    Variable("MAILBOX_OWNER", "mailbox_owner", _phone_number, readers=(3,)),
    Variable(
        "MAILBOX_PIN",
        "mailbox_pin",
        _pin,
        readers=(3,),
        secret=True,
        problem="{name} is not allowed ({length} characters): {why}",
    ),
    Variable(
        "MAX_MESSAGE_SECONDS",
        "max_message_seconds",
        # The NCCO record action's timeOut: "minimum 3, maximum 7200" (Vonage's NCCO
        # reference, https://developer.vonage.com/en/voice/voice-api/ncco-reference#record).
        _whole_number("give a whole number of seconds from 3 to 7200, such as 120", 3, 7200),
        readers=(3,),
    ),
    Variable(
        "WEB_CONCURRENCY",
        None,
        _whole_number(
            "give how many worker processes, 1 to 64; one per CPU core is a good start", 1, 64
        ),
        readers=("Gunicorn",),
    ),
    # Read by vonage_setup.py: setup-vonage.py, and the scenarios' start-up check.
    Variable("VONAGE_API_KEY", None, str, readers=("setup", 1, 2, 3)),
    Variable("VONAGE_API_SECRET", None, str, readers=("setup", 1, 2, 3), secret=True),
    Variable("VONAGE_NUMBER", None, str, readers=("setup",)),
)
VARIABLE_NAMES = tuple(variable.name for variable in VARIABLES)


def variable(name):
    """The declared Variable called `name`."""
    return next(variable for variable in VARIABLES if variable.name == name)


def read_environment(dotenv_path=PROJECT_DIR / ".env"):
    """The `.env` file's values, overridden by the real environment."""
    return {**dotenv_values(dotenv_path), **os.environ}


def check(variable, env):
    """`variable`'s value in `env`: (value, None), (None, None) when unset, or (None, problem)."""
    raw = (env.get(variable.name) or "").strip() or variable.when_empty
    if not raw:
        return None, variable.required and f"{variable.required} ({HINT})"
    try:
        return variable.parse(raw), None
    except ValueError as error:
        shown = "" if variable.secret else variable.show(raw)
        text = variable.problem.format(name=variable.name, shown=shown, length=len(raw), why=error)
        return None, f"{text} ({HINT})"


def load(env, *, voice_api=False, scenario=None):
    """Build Settings from a mapping, with the variables `scenario` reads (by default 1; with
    `voice_api`, 2: also the credentials scenario 2 needs).

    Raises SettingsError listing every problem found.
    """
    scenario = scenario or (2 if voice_api else 1)
    problems, values = [], {}
    for variable in VARIABLES:
        if variable.field and scenario in variable.readers:
            value, problem = check(variable, env)
            if problem:
                problems.append(problem)
            elif value is not None:
                values[variable.field] = value
    if "public_url" not in values and env.get("CODESPACE_NAME"):
        # GitHub forwards each port of a Codespace to https://NAME-PORT.DOMAIN.
        domain = env.get("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN") or "app.github.dev"
        port = values.get("port", Settings.port)
        values["public_url"] = f"https://{env['CODESPACE_NAME']}-{port}.{domain}"
    problems += _play_local_audio(values, problems)
    if values.get("mailbox_pin") and not values.get("mailbox_owner"):
        problems.append(
            "MAILBOX_PIN is set, but MAILBOX_OWNER is not: the PIN guards the owner's calls, so "
            f"set MAILBOX_OWNER to your number, or leave MAILBOX_PIN empty ({HINT})"
        )
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def _play_local_audio(values, problems):
    """Point STREAM_URL's and GREETING's files of audio/ at PUBLIC_URL, where Vonage fetches
    them; return the problems (none for a PUBLIC_URL that is itself wrong: its own line says)."""
    found = []
    for name, field in (("STREAM_URL", "stream_url"), ("GREETING", "greeting")):
        local = values.get(field)
        if not isinstance(local, LocalAudio) or any(p.startswith("PUBLIC_URL=") for p in problems):
            continue
        if "public_url" not in values:
            found.append(
                f"{name}=audio/{local.name} is a file of this server, which Vonage fetches at "
                f"PUBLIC_URL{audio.ROUTE}{local.name}: set PUBLIC_URL, or use an https:// URL "
                f"({HINT})"
            )
            continue
        values[field] = f"{values['public_url']}{audio.ROUTE}{local.name}"
        if field == "stream_url":
            values["stream_seconds"] = local.seconds
    return found
