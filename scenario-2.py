"""Scenario 2: callers join a conference; open /stream to play music into it.

Run it with `python scenario-2.py` once .env holds your application id and private key.
See README.md.
"""

import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Flask, jsonify
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from vonage import Auth, HttpClientOptions, Vonage, VonageError
from vonage_http_client.errors import (
    AuthenticationError,
    ForbiddenError,
    HttpRequestError,
    NotFoundError,
    RateLimitedError,
)
from vonage_voice.models import AudioStreamOptions, Conversation, Talk
from werkzeug.exceptions import BadRequest

import settings as config
import webhooks

# The SDK waits forever by default. Each attempt gets API_TIMEOUT seconds, and the SDK's own
# urllib3 Retry repeats timed-out and dropped PUT/DELETE requests API_RETRIES more times with
# a 0.2 s backoff, so one call takes at most WORST_CALL seconds; the browser waits at most
# BROWSER_BUDGET seconds for /stream, however many legs it has to try.
API_TIMEOUT = 4
API_RETRIES = 2
WORST_CALL = (API_RETRIES + 1) * API_TIMEOUT + 0.5
BROWSER_BUDGET = 15

NO_ONE_HERE = "no one is in the conference yet: dial your Vonage number first"


def answer_ncco(settings):
    """The NCCO for every caller: a greeting, then the named conference."""
    ncco = [
        Talk(text="Please wait while we connect you to the conference"),
        Conversation(name=settings.conf_name),
    ]
    return [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in ncco]


@dataclass
class Conference:
    """The conference's live legs (oldest first) and the leg music plays on; thread-safe."""

    legs: dict = field(default_factory=dict)  # uuid -> {"uuid", "from", "since"}
    streaming_on: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def joined(self, uuid, caller):
        with self._lock:
            self.legs.pop(uuid, None)  # a repeated answer webhook moves the leg to newest
            self.legs[uuid] = {"uuid": uuid, "from": caller, "since": time.time()}

    def left(self, uuid):
        with self._lock:
            self.legs.pop(uuid, None)
            if self.streaming_on == uuid:
                self.streaming_on = None

    def newest_first(self):
        with self._lock:
            return list(reversed(self.legs))

    def set_streaming(self, uuid):
        with self._lock:
            self.streaming_on = uuid


def voice_client(settings):
    """One SDK client for the whole process, with a timeout the SDK does not set itself."""
    options = {"timeout": API_TIMEOUT, "max_retries": API_RETRIES}
    if settings.api_host:
        options["api_host"] = settings.api_host
    auth = Auth(application_id=settings.application_id, private_key=settings.private_key)
    return Vonage(auth, HttpClientOptions(**options)).voice


def api_failure(error, api_host):
    """Turn a failed Voice API call into the status and message the browser shows."""
    if isinstance(error, AuthenticationError):
        return 502, (
            "Vonage refused the credentials (401): VONAGE_APPLICATION_ID and the private key "
            "do not match; check both belong to the same application"
        )
    if isinstance(error, ForbiddenError):
        return 502, "Vonage refused the request (403): check the application has Voice enabled"
    if isinstance(error, RateLimitedError):
        return 502, "Vonage is rate limiting this account (429): wait a few seconds, try again"
    if isinstance(error, HttpRequestError):
        status = error.response.status_code
        return 502, f"the Voice API failed ({status}): try again in a moment"
    if _timed_out(error):
        return 504, (
            f"the Voice API at {api_host} did not answer in time: try again; the music may "
            "still start if Vonage got the request late"
        )
    if isinstance(error, requests.RequestException):
        return (
            502,
            f"could not reach the Voice API at {api_host}: check the network and VONAGE_API_HOST",
        )
    return 502, f"the request to the Voice API failed: {error}"


def _timed_out(error):
    """True for a timeout, including one the SDK's retries wrapped in a ConnectionError."""
    if isinstance(error, requests.Timeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    # urllib3 files "could not connect" (DNS, refused) under its timeout errors too.
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def load_settings():
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    pages = [("play music into the conference", "/stream"), ("stop the music", "/stream/stop")]
    return config.startup("Scenario 2", voice_api=True, browser=pages)


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    webhooks.configure(app)
    ncco = answer_ncco(settings)
    conference = Conference()
    voice = voice_client(settings)
    api_host = settings.api_host or voice.http_client.api_host
    music = AudioStreamOptions(
        stream_url=[settings.stream_url], level=settings.stream_level, loop=settings.stream_loop
    )
    app.extensions["conference"] = conference  # so tests can see the live legs

    def fail(status, message):
        app.logger.warning("%s", message)
        return jsonify(error=message), status

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer_call():
        """Answer webhook: greet the caller and put them in the conference."""
        try:
            call = webhooks.params()
        except BadRequest:  # whatever the request holds, a real caller still gets connected
            call = {}
        uuid = webhooks.text(call, "uuid")
        if uuid:
            conference.joined(uuid, webhooks.text(call, "from"))
            app.logger.info("leg %s joined %s", uuid, settings.conf_name)
        return jsonify(ncco)

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def call_event():
        """Event webhook: log each event and forget legs that have ended."""
        event = webhooks.params()
        uuid, status = webhooks.text(event, "uuid"), webhooks.describe(event)
        app.logger.info("event %s for leg %s", status, uuid)
        if uuid and status in webhooks.FINAL_STATUSES:
            conference.left(uuid)
        return "", 200

    @app.get("/stream")
    def start_stream():
        """Play STREAM_URL into the conference through the newest live leg."""
        started = time.monotonic()
        for uuid in conference.newest_first():
            if time.monotonic() - started + WORST_CALL > BROWSER_BUDGET:
                return fail(504, "the Voice API is answering too slowly: try again")
            try:
                voice.play_audio_into_call(uuid, music)
            except NotFoundError:
                # Vonage no longer knows the leg (we missed its hang-up): try the next one.
                app.logger.info("leg %s is gone; forgetting it", uuid)
                conference.left(uuid)
                continue
            except (VonageError, requests.RequestException) as error:
                return fail(*api_failure(error, api_host))
            conference.set_streaming(uuid)
            app.logger.info("streaming %s into leg %s", settings.stream_url, uuid)
            return jsonify(
                message="streaming into the conference", uuid=uuid, stream_url=settings.stream_url
            )
        return fail(409, NO_ONE_HERE)

    @app.get("/stream/stop")
    def stop_stream():
        """Stop the music on the leg it was started on."""
        uuid = conference.streaming_on
        if uuid is None:
            return fail(409, "nothing is streaming: open /stream to start the music")
        try:
            voice.stop_audio_stream(uuid)
        except NotFoundError:
            # The music finished or the caller hung up; /stream will find out which if it must.
            conference.set_streaming(None)
            return fail(409, "Vonage has no stream on that call any more: nothing to stop")
        except (VonageError, requests.RequestException) as error:
            return fail(*api_failure(error, api_host))
        conference.set_streaming(None)
        app.logger.info("stopped the stream on leg %s", uuid)
        return jsonify(message="stopped the stream", uuid=uuid)

    return app


if __name__ == "__main__":
    settings = load_settings()
    create_app(settings).run(host=settings.host, port=settings.port)
