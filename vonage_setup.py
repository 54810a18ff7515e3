"""Point a Vonage application and number at this server, with the account's API key and secret.

`setup-vonage.py` runs `plan` then `apply`; both scenarios call `check_webhooks_in_background`
at start-up. The Application API (v2, on the SDK's `api_host`) and the Numbers API (on its
`rest_host`) both take the key and secret as Basic auth.

Test-only overrides, read from the same environment: VONAGE_SETUP_API_HOST and
VONAGE_SETUP_REST_HOST replace api.nexmo.com and rest.nexmo.com (host[:port], https only), so
the tests can point the SDK at a fake on 127.0.0.1. VONAGE_API_HOST is not used here: it names
the Voice API host for calls, which need not serve the account APIs.
"""

import ipaddress
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from vonage import Auth, HttpClientOptions, Vonage
from vonage_application import ApplicationConfig
from vonage_http_client import AuthenticationError, HttpRequestError, NotFoundError
from vonage_numbers import ListOwnedNumbersFilter, NumbersError, UpdateNumberParams

import settings

ANSWER_PATH = "/webhooks/answer"
EVENT_PATH = "/webhooks/event"
# The methods the tutorial uses; both scenarios answer either on both paths.
ANSWER_METHOD, EVENT_METHOD = "GET", "POST"
APP_NAME = "vonage-audio-stream"
# Long enough for Vonage to create an application and its key pair, short enough that a hung
# network is reported while the user still waits.
TIMEOUT = 8
CHECK_TIMEOUT = 2  # the start-up check: never keeps a server waiting longer
# Seconds to wait before each retry when Vonage answers 429 or 5xx.
BUSY_DELAYS = (0.5, 1, 2)
DASHBOARD_KEYS = "dashboard.nexmo.com > API Settings"


class SetupError(Exception):
    """Setup cannot go on; the message is one line that names the fix and holds no secret."""


@dataclass
class Plan:
    """What `apply` changes; `steps` says it in words, empty when all is already set up."""

    answer_url: str
    event_url: str
    application_id: str | None  # None: create one
    application: dict | None  # the application as Vonage holds it, to put back edited
    key_path: Path | None  # where a new application's private key goes
    number: dict
    update_webhooks: bool = False
    link_number: bool = False
    steps: list = field(default_factory=list)


def client(env, timeout=TIMEOUT):
    """The SDK's Application and Numbers APIs, with the account's key and secret.

    Raises SetupError when either is missing.
    """
    key = (env.get("VONAGE_API_KEY") or "").strip()
    secret = (env.get("VONAGE_API_SECRET") or "").strip()
    if not key or not secret:
        missing = " and ".join(
            name for name, value in (("VONAGE_API_KEY", key), ("VONAGE_API_SECRET", secret))
            if not value
        )  # fmt: skip
        verb = "are" if " and " in missing else "is"
        raise SetupError(
            f"{missing} {verb} not set: copy your API key and secret from {DASHBOARD_KEYS} "
            "into .env (in a Codespace, add them as Codespace secrets)"
        )
    options = HttpClientOptions(
        api_host=(env.get("VONAGE_SETUP_API_HOST") or "").strip() or "api.nexmo.com",
        rest_host=(env.get("VONAGE_SETUP_REST_HOST") or "").strip() or "rest.nexmo.com",
        timeout=timeout,
        # Retries are ours (busy_retry): the SDK's would multiply the timeout on a hung network.
        max_retries=0,
    )
    auth = Auth(api_key=key, api_secret=secret)
    # One SDK client each: a client keeps the Content-Type of its last JSON request in its
    # shared headers, so the Numbers API's form would go out labelled application/json.
    return Account(Vonage(auth, options).application, Vonage(auth, options).numbers)


@dataclass(frozen=True)
class Account:
    """The two SDK APIs setup speaks to."""

    application: object  # vonage_application.Application
    numbers: object  # vonage_numbers.Numbers


def webhook_urls(public_url):
    """The answer and event URLs for a public base URL; SetupError if Vonage cannot reach it."""
    if not public_url:
        raise SetupError(
            "no public URL: Vonage calls this server from the internet. Run this in a GitHub "
            "Codespace, or start a tunnel (ngrok http 9000) and set PUBLIC_URL in .env to its "
            "https:// address"
        )
    host = urlsplit(public_url).hostname or ""
    try:
        local = not ipaddress.ip_address(host).is_global
    except ValueError:
        local = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    if local:
        raise SetupError(
            f"PUBLIC_URL={public_url!r} is not reachable from the internet, so Vonage cannot "
            "call it: use a GitHub Codespace, or a tunnel's https:// address (ngrok http 9000)"
        )
    return public_url + ANSWER_PATH, public_url + EVENT_PATH


def plan(vonage, env, public_url, *, project_dir, force=False):
    """Find out what must change at Vonage and on disk, changing nothing."""
    answer_url, event_url = webhook_urls(public_url)
    application_id = (env.get("VONAGE_APPLICATION_ID") or "").strip() or None
    application, key_path, steps, update_webhooks = None, None, [], False
    if application_id:
        if not settings.APPLICATION_ID.fullmatch(application_id):
            raise SetupError(
                f"VONAGE_APPLICATION_ID={application_id!r} is not an application id (like "
                "aaaaaaaa-bbbb-cccc-dddd-0123456789ab): copy it from the dashboard "
                "(Applications), or empty it to create a new application"
            )
        application = get_application(vonage, application_id)
        wanted = ((answer_url, ANSWER_METHOD), (event_url, EVENT_METHOD))
        update_webhooks = webhooks_of(application) != wanted
        if update_webhooks:
            steps.append(
                f"point application {application_id} at {answer_url} ({ANSWER_METHOD}) and "
                f"{event_url} ({EVENT_METHOD})"
            )
    else:
        key_path = _new_key_path(env, project_dir)
        steps.append(
            f"create an application named {application_name(public_url)!r} that sends calls to "
            f"{answer_url} ({ANSWER_METHOD}) and {event_url} ({EVENT_METHOD})"
        )
        steps.append(f"save its private key to {key_path}, readable by you only")
        steps.append("write its id to .env as VONAGE_APPLICATION_ID")
    number = choose_number(vonage, env)
    linked = linked_application(number)
    link_number = application_id is None or linked != application_id
    if link_number:
        if linked and not force:
            raise SetupError(
                f"+{number['msisdn']} is linked to another application, "
                f"{_describe(vonage, linked)}: run again with --force to link it to this one, "
                "or set VONAGE_NUMBER to another of your numbers"
            )
        steps.append(f"link +{number['msisdn']} to the application")
    return Plan(
        answer_url, event_url, application_id, application, key_path, number,
        update_webhooks, link_number, steps,
    )  # fmt: skip


def apply(vonage, todo, *, project_dir, say=print):
    """Make the planned changes, saying each as it is done; return the application id."""
    application_id = todo.application_id
    if application_id is None:
        config = ApplicationConfig(
            name=application_name(todo.answer_url.removesuffix(ANSWER_PATH)),
            capabilities={"voice": {"webhooks": _webhooks(todo)}},
        )
        created = busy_retry(
            lambda: vonage.application.create_application(config),
            "create the application",
            repeatable=False,
        )
        application_id = created.id
        say(f"Created application {application_id} ({created.name})")
        save_private_key(todo.key_path, created.keys.private_key)
        say(f"Saved its private key to {todo.key_path} (readable by you only)")
        write_env_value(project_dir / ".env", project_dir / ".env.example", application_id)
        say(f"Wrote VONAGE_APPLICATION_ID={application_id} to .env")
    elif todo.update_webhooks:
        put_application(vonage, application_id, with_webhooks(todo.application, todo))
        say(f"Application {application_id} now sends calls to {todo.answer_url}")
    if todo.link_number:
        number = todo.number
        params = UpdateNumberParams(
            country=number["country"], msisdn=number["msisdn"], app_id=application_id
        )
        busy_retry(lambda: vonage.numbers.update_number(params), "link the number")
        say(f"Linked +{number['msisdn']} to application {application_id}")
    return application_id


def application_name(public_url):
    return f"{APP_NAME} {urlsplit(public_url).hostname}"


def webhooks_of(application):
    """((answer address, method), (event address, method)) of an application document."""
    hooks = ((application.get("capabilities") or {}).get("voice") or {}).get("webhooks") or {}
    answer, event = hooks.get("answer_url") or {}, hooks.get("event_url") or {}
    return (
        (answer.get("address"), answer.get("http_method")),
        (event.get("address"), event.get("http_method")),
    )


def with_webhooks(application, todo):
    """The application document as Vonage holds it, with only the two voice webhooks changed.

    The update replaces the whole document, and the SDK's models drop fields they do not know
    (the spec's `connection_timeout`, fields added since), so the document goes back as a dict.
    """
    document = {k: v for k, v in application.items() if k not in ("id", "_links")}
    capabilities = document.setdefault("capabilities", {})
    voice = capabilities.setdefault("voice", {})
    hooks = voice.setdefault("webhooks", {})
    for name, value in _webhooks(todo).items():
        hooks[name] = {**(hooks.get(name) or {}), **value}
    return document


def _webhooks(todo):
    return {
        "answer_url": {"address": todo.answer_url, "http_method": ANSWER_METHOD},
        "event_url": {"address": todo.event_url, "http_method": EVENT_METHOD},
    }


def get_application(vonage, application_id):
    """The application's whole document, as a dict (see `with_webhooks`)."""
    http = vonage.application.http_client
    try:
        return busy_retry(
            lambda: http.get(http.api_host, f"/v2/applications/{application_id}", None, "basic")
        )
    except NotFoundError:
        raise SetupError(
            f"VONAGE_APPLICATION_ID={application_id} is not an application of this account "
            "(Vonage says 404): copy the id from the dashboard (Applications), or empty it in "
            ".env to create a new application"
        ) from None


def put_application(vonage, application_id, document):
    http = vonage.application.http_client
    busy_retry(
        lambda: http.put(http.api_host, f"/v2/applications/{application_id}", document, "basic"),
        "update the application",
    )


def owned_numbers(vonage):
    """Every number of the account, as the Numbers API lists them (100 a page)."""
    numbers, index = [], 1
    while index:
        page, _, index = busy_retry(
            lambda i=index: vonage.numbers.list_owned_numbers(ListOwnedNumbersFilter(index=i))
        )
        numbers += [number.model_dump() for number in page]
    return numbers


def choose_number(vonage, env):
    """VONAGE_NUMBER if set, else the account's only voice number; SetupError otherwise."""
    numbers = owned_numbers(vonage)
    wanted = re.sub(r"[\s()+.-]", "", env.get("VONAGE_NUMBER") or "")
    if wanted:
        for number in numbers:
            if number["msisdn"] == wanted:
                return number
        raise SetupError(
            f"VONAGE_NUMBER={env['VONAGE_NUMBER'].strip()!r} is not a number of this account: "
            f"use one of {_listed(numbers) or 'none (buy one in the dashboard: Numbers)'}"
        )
    voice = [n for n in numbers if "VOICE" in (n.get("features") or [])]
    if not voice:
        raise SetupError(
            "this account has no number that takes calls: buy one in the dashboard "
            "(Numbers > Buy numbers, with Voice), then run this again"
        )
    if len(voice) > 1:
        raise SetupError(
            f"this account has {len(voice)} numbers that take calls ({_listed(voice)}): set "
            "VONAGE_NUMBER in .env to the one to use"
        )
    return voice[0]


def linked_application(number):
    """The id of the application a number is linked to, or None."""
    if number.get("app_id"):
        return number["app_id"]
    # Older answers name it only as the voice callback.
    if number.get("voice_callback_type") == "app":
        return number.get("voice_callback_value") or None
    return None


def _listed(numbers):
    return ", ".join(f"+{n['msisdn']}" for n in numbers)


def _describe(vonage, application_id):
    """An application's id and, when this account can read it, its name."""
    http = vonage.application.http_client
    try:
        name = http.get(http.api_host, f"/v2/applications/{application_id}", None, "basic")["name"]
        return f"{application_id} ({name})"
    except (HttpRequestError, requests.RequestException, KeyError, TypeError):
        return application_id


def _new_key_path(env, project_dir):
    """Where a new application's key goes; SetupError if that would overwrite or cannot be."""
    setting = (env.get("VONAGE_PRIVATE_KEY") or "").strip()
    setting = setting or settings.variable("VONAGE_PRIVATE_KEY").when_empty
    if "-----BEGIN" in setting:
        raise SetupError(
            "VONAGE_PRIVATE_KEY holds a key but VONAGE_APPLICATION_ID is empty: set "
            "VONAGE_APPLICATION_ID to that key's application, or set VONAGE_PRIVATE_KEY to a "
            "file path for a new application's key"
        )
    path = Path(setting).expanduser()
    if not path.is_absolute():
        path = project_dir / path
    if path.exists():
        raise SetupError(
            f"{path} exists and a new application comes with a new key, which must not "
            "overwrite it: set VONAGE_APPLICATION_ID to the application that key belongs to, "
            "or move the file away (or set VONAGE_PRIVATE_KEY to a new path) and run again"
        )
    if not os.access(path.parent, os.W_OK):
        raise SetupError(
            f"cannot save the new private key in {path.parent}: set VONAGE_PRIVATE_KEY to a "
            "path in a folder you may write to"
        )
    return path


def save_private_key(path, pem):
    """Write the key readable by its owner only, never replacing a file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(pem)


def write_env_value(path, example, value, name="VONAGE_APPLICATION_ID"):
    """Set `name` in .env (made from .env.example if missing), every other byte kept.

    Written to a temporary file and renamed over .env, so .env is never half written.
    """
    existed = path.exists()
    source = path if existed else example
    data = source.read_bytes() if source.exists() else b""
    lines = data.splitlines(keepends=True)
    pattern = re.compile(rb"\s*(export\s+)?" + re.escape(name.encode()) + rb"\s*=")
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    setting = f"{name}={value}".encode()
    found = False
    for index, line in enumerate(lines):
        if pattern.match(line):
            lines[index] = setting + line[len(line.rstrip(b"\r\n")) :]
            found = True
    if not found:
        if lines and not lines[-1].endswith(b"\n"):
            lines[-1] += newline
        lines.append(setting + newline)
    # A new .env will hold the API secret too: owner only. An existing one keeps its mode.
    mode = path.stat().st_mode & 0o777 if existed else 0o600
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".env.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(b"".join(lines))
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def busy_retry(call, doing="reach Vonage", delays=BUSY_DELAYS, repeatable=True):
    """`call()`, again after a pause while Vonage answers 429 or 5xx; SetupError on failure.

    A call that is not `repeatable` (a create) is repeated only after 429, which Vonage sends
    before doing anything: after a 5xx, the first attempt may have worked.
    """
    for delay in (*delays, None):
        try:
            return call()
        except NotFoundError:
            raise  # the caller knows what was not found
        except HttpRequestError as error:
            status = error.response.status_code
            if status >= 500 and not repeatable:
                raise SetupError(
                    f"Vonage failed ({status}) to {doing}: look for a new application in the "
                    "dashboard (Applications) and delete it, then run this again"
                ) from None
            if (status == 429 or status >= 500) and delay is not None:
                time.sleep(delay)
                continue
            raise _failure(error, doing) from None
        except NumbersError as error:  # a 200 whose body says it failed
            label = str(error).split(":", 1)[-1].strip()
            raise SetupError(f"Vonage did not {doing}: {label}") from None
        except requests.RequestException as error:
            if timed_out(error):
                raise SetupError(
                    f"Vonage did not answer within {TIMEOUT} s: check your network connection "
                    "and run this again"
                ) from None
            raise SetupError(
                "cannot reach Vonage: check your network connection (and any proxy), then run "
                "this again"
            ) from None


def timed_out(error):
    """Whether a requests error is a timeout.

    With retries off, urllib3 reports a timeout as "max retries exceeded", which requests turns
    into a ConnectionError; and urllib3's refused connection is a kind of connect timeout.
    """
    reason = getattr(error.args[0], "reason", None) if error.args else None
    errors = urllib3.exceptions
    if isinstance(reason, errors.NewConnectionError):
        return False
    return isinstance(error, requests.Timeout) or isinstance(reason, errors.TimeoutError)


def _failure(error, doing):
    """One line for an error answer from Vonage (never its body: it may echo what we sent)."""
    status = error.response.status_code
    if isinstance(error, AuthenticationError):
        return SetupError(
            "Vonage refused VONAGE_API_KEY and VONAGE_API_SECRET (401): copy both again from "
            f"{DASHBOARD_KEYS}"
        )
    if status == 429 or status >= 500:
        return SetupError(
            f"Vonage is busy ({status}) and stayed busy after {len(BUSY_DELAYS)} retries: try "
            "again in a minute (status: https://vonageapi.statuspage.io)"
        )
    return SetupError(f"Vonage refused to {doing} ({status}): check the dashboard and try again")


def check_webhooks_in_background(env, public_url, logger):
    """At start-up: warn once if Vonage sends this application's calls elsewhere.

    Runs only when VONAGE_API_KEY, VONAGE_API_SECRET and VONAGE_APPLICATION_ID are set and the
    public URL is known; the lookup runs in a daemon thread with a short timeout, so it never
    delays or fails start-up. Only the addresses are compared: both scenarios answer GET and
    POST. Returns the thread, or None when there is nothing to check.
    """
    application_id = (env.get("VONAGE_APPLICATION_ID") or "").strip()
    if not (
        public_url
        and application_id
        and (env.get("VONAGE_API_KEY") or "").strip()
        and (env.get("VONAGE_API_SECRET") or "").strip()
    ):
        return None
    ours = (public_url + ANSWER_PATH, public_url + EVENT_PATH)

    def check():
        try:
            vonage = client(env, timeout=CHECK_TIMEOUT)
            http = vonage.application.http_client
            path = f"/v2/applications/{application_id}"
            application = http.get(http.api_host, path, None, "basic")
        except (HttpRequestError, requests.RequestException) as error:
            if isinstance(error, HttpRequestError):
                reason = f"Vonage answered {error.response.status_code}"
            elif timed_out(error):
                reason = f"Vonage did not answer within {CHECK_TIMEOUT} s"
            else:
                reason = "cannot reach Vonage"
            logger.warning(
                "could not check where Vonage sends calls for application %s: %s",
                application_id,
                reason,
            )
            return
        except Exception as error:  # never let the check take the server down
            logger.warning("could not check where Vonage sends calls: %s", type(error).__name__)
            return
        (answer, _), (event, _) = webhooks_of(application)
        if (answer, event) != ours:
            logger.warning(
                "Vonage sends application %s's calls to %s and events to %s, not to this "
                "server's %s and %s: run .venv/bin/python setup-vonage.py to fix it",
                application_id,
                answer,
                event,
                *ours,
            )

    thread = threading.Thread(target=check, name="vonage-webhook-check", daemon=True)
    thread.start()
    return thread
