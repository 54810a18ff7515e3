"""Scenario 2: callers join a conference; open /stream to play music into it.

Run it with `python scenario-2.py` once .env holds your application id and private key.
See README.md.
"""

import hmac
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Flask, jsonify, request
from vonage import VonageError
from vonage_http_client.errors import NotFoundError
from vonage_voice.models import AudioStreamOptions, Conversation, Talk
from werkzeug.exceptions import BadRequest

import settings as config
import voice_api
import webhooks

# However many legs /stream has to try, the browser gets its answer within this many seconds.
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

    # Far above any real conference; bounds memory if unsigned webhooks are flooded.
    MAX_LEGS = 1000

    def joined(self, uuid, caller):
        with self._lock:
            self.legs.pop(uuid, None)  # a repeated answer webhook moves the leg to newest
            self.legs[uuid] = {"uuid": uuid, "from": caller, "since": time.time()}
            if len(self.legs) > self.MAX_LEGS:
                del self.legs[next(iter(self.legs))]

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

    def snapshot(self):
        """A copy of the state, safe to turn into JSON while calls come and go."""
        with self._lock:
            return {
                "legs": [dict(leg) for leg in self.legs.values()],
                "streaming_on": self.streaming_on,
            }


def load_settings():
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    pages = [("play music into the conference", "/stream"), ("stop the music", "/stream/stop")]
    return config.startup("Scenario 2", voice_api=True, browser=pages)


# The owner's routes: with CONTROL_TOKEN set, they need it.
CONTROLS = {"start_stream", "stop_stream", "status"}


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    webhooks.configure(app, settings.signature_secret)
    ncco = answer_ncco(settings)
    conference = Conference()
    voice = voice_api.client(settings)
    api_host = settings.api_host or voice.http_client.api_host
    music = AudioStreamOptions(
        stream_url=[settings.stream_url], level=settings.stream_level, loop=settings.stream_loop
    )
    app.extensions["conference"] = conference  # so tests can see the live legs

    def fail(status, message):
        app.logger.warning("%s", message)
        return jsonify(error=message), status

    @app.before_request
    def owner_only():
        if settings.control_token and request.endpoint in CONTROLS:
            scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
            given = request.args.get("token") or (bearer if scheme.lower() == "bearer" else "")
            if not hmac.compare_digest(given.encode(), settings.control_token.encode()):
                app.logger.warning(
                    "refused %s from %s: wrong or missing token",
                    request.endpoint,
                    request.remote_addr,
                )
                return fail(401, "wrong or missing token: use the link printed at startup")
        return None

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer_call():
        """Answer webhook: greet the caller and put them in the conference."""
        try:
            call = webhooks.params()
        except BadRequest:  # whatever the request holds, a real caller still gets connected
            call = {}
        uuid = webhooks.leg_uuid(call)
        if uuid:
            conference.joined(uuid, webhooks.text(call, "from"))
            app.logger.info("leg %s joined %s", uuid, settings.conf_name)
        return jsonify(ncco)

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def call_event():
        """Event webhook: log each event and forget legs that have ended."""
        event = webhooks.params()
        uuid, status = webhooks.leg_uuid(event), webhooks.describe(event)
        app.logger.info("event %s for leg %s", status, uuid or "?")
        if uuid and status in webhooks.FINAL_STATUSES:
            conference.left(uuid)
        return "", 200

    @app.get("/status")
    def status():
        """The conference's state as JSON: live legs and where music plays."""
        return jsonify(conference=settings.conf_name, **conference.snapshot())

    @app.get("/stream")
    def start_stream():
        """Play STREAM_URL into the conference through the newest live leg."""
        started, gone = time.monotonic(), 0
        for uuid in conference.newest_first():
            if time.monotonic() - started + voice_api.WORST_CALL > BROWSER_BUDGET:
                return fail(504, "the Voice API is answering too slowly: try again")
            try:
                voice.play_audio_into_call(uuid, music)
            except NotFoundError:
                # Vonage no longer knows the leg (we missed its hang-up): try the next one.
                app.logger.info("leg %s is gone; forgetting it", uuid)
                conference.left(uuid)
                gone += 1
                continue
            except (VonageError, requests.RequestException) as error:
                return fail(*voice_api.explain(error, api_host, "start"))
            conference.set_streaming(uuid)
            app.logger.info("streaming %s into leg %s", settings.stream_url, uuid)
            return jsonify(
                message="streaming into the conference", uuid=uuid, stream_url=settings.stream_url
            )
        if gone:  # say why the callers vanished: a wrong region also answers 404
            ended = f"Vonage says the {gone} call(s) we had have ended (404)"
            region = "if people are still on, check VONAGE_API_HOST is their region"
            return fail(409, f"{ended}: {NO_ONE_HERE}; {region}")
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
            return fail(*voice_api.explain(error, api_host, "stop"))
        conference.set_streaming(None)
        app.logger.info("stopped the stream on leg %s", uuid)
        return jsonify(message="stopped the stream", uuid=uuid)

    return app


if __name__ == "__main__":
    settings = load_settings()
    config.exit_unless_can_listen(settings)  # a clear line, not a socket error, if it cannot
    create_app(settings).run(host=settings.host, port=settings.port)
