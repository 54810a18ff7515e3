"""What a scenario does before it serves: load the settings, check it can listen, and print
where Vonage and the owner reach it (the banner)."""

import argparse
import errno
import logging
import socket
import sys
import time
from dataclasses import replace
from urllib.parse import urlsplit

import click  # Flask's own command-line library

import conference_store
import settings as config


def command_line(description, **flags):
    """The script's options: --help, and each of `flags` (name: what it does); anything else
    stops the script with its usage and exit status 2, before it starts a server."""
    parser = argparse.ArgumentParser(
        description=description.strip().splitlines()[0], allow_abbrev=False
    )
    for name, does in flags.items():
        parser.add_argument("--" + name.replace("_", "-"), action="store_true", help=does)
    return parser.parse_args()


def load_settings(env=None, *, voice_api=False, scenario=None):
    """Settings from `env` (default: the environment and .env); on any problem, one line each
    on stderr and exit 2."""
    env = config.read_environment() if env is None else env
    try:
        return config.load(env, voice_api=voice_api, scenario=scenario)
    except config.SettingsError as error:
        print(*error.problems, sep="\n", file=sys.stderr)
        sys.exit(2)


def startup(
    scenario, *, voice_api=False, browser=(), check_port=False, number=None, in_effect=None
):
    """Load the settings (or exit 2) and print what to paste where, before anything else; then,
    in the background, check that Vonage sends the application's calls here.

    `browser` lists (what it does, path) for the pages the user opens themselves; with
    `check_port`, exit 2 first if HOST:PORT cannot be listened on. `number` is the scenario
    whose variables to read (by default 1, or 2 with `voice_api`), `in_effect(settings)` the
    settings the banner lists in words (by default scenario 1's and 2's).
    """
    env = config.read_environment()
    settings = load_settings(env, voice_api=voice_api, scenario=number)
    cli = click.get_current_context(silent=True)
    if cli is not None and cli.info_name == "run":
        # `flask run` listens where its own --host and --port say, not HOST and PORT.
        settings = replace(settings, host=cli.params["host"], port=cli.params["port"])
    if check_port:
        exit_unless_can_listen(settings)
    # A hosting platform keeps stdout in its logs: the owner's token goes only to a terminal.
    terminal = sys.stdout.isatty()
    text = banner(
        settings,
        scenario,
        voice_api=voice_api,
        browser=browser,
        terminal=terminal,
        in_effect=in_effect,
    )
    print(text, flush=True)
    if env.get("VONAGE_API_KEY") and env.get("VONAGE_API_SECRET"):
        import vonage_setup  # the SDK's account APIs: imported only by those who use them

        logger = logging.getLogger(scenario)
        vonage_setup.check_webhooks_in_background(env, settings.public_url, logger)
    return settings


def banner(settings, scenario, *, voice_api=False, browser=(), terminal=False, in_effect=None):
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
        lines += _pages(settings, base, browser, terminal)
    lines += _warnings(settings, voice_api, browser)
    shown = in_effect(settings) if in_effect else _in_effect(settings, voice_api)
    lines.append("Settings: " + ", ".join(shown))
    return "\n".join(lines)


def _pages(settings, base, browser, terminal):
    """The owner's links, with the token only when `terminal`."""
    token = ""
    if settings.control_token:
        token = f"?token={settings.control_token if terminal else '<CONTROL_TOKEN>'}"
    lines = ["Open in your browser:"]
    lines += [f"  {base}{path}{token}  ({what})" for what, path in browser]
    if token and not terminal:
        lines.append(
            "  <CONTROL_TOKEN> is your CONTROL_TOKEN, from .env or the environment: not "
            "printed here, as this output is not a terminal and may be kept in a log."
        )
    return lines


def _warnings(settings, voice_api, browser):
    """What the user should know before Vonage calls: what is not public, verified or locked."""
    lines = []
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
        lines.append("Anyone with these links can use these pages: set CONTROL_TOKEN to lock them.")
    return lines


def _in_effect(settings, voice_api):
    """The settings in effect, in words, never a secret."""
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
            "Voice API " + (settings.api_host or "in each call's region, else api.nexmo.com"),
            "state in " + conference_store.describe(settings.state_url),
        ]
    if settings.trusted_proxies:
        proxies = settings.trusted_proxies
        shown.append(
            f"callers' addresses from X-Forwarded-For ({proxies} "
            + ("proxy)" if proxies == 1 else "proxies)")
        )
    return shown


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
    print(f"{problem} ({config.HINT})", file=sys.stderr)
    sys.exit(2)


def say_leftovers(conference, forget_command):
    """Print how many live legs the store already holds, if any, and how to forget them."""
    live, oldest = conference.leftovers()
    if live:
        print(
            f"The store already holds {live} live leg(s), the oldest from "
            f"{_age(time.time() - oldest)} ago: from an earlier run, or other processes that "
            f"share it. If those calls are over, forget them: {forget_command}",
            flush=True,
        )


def _age(seconds):
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
