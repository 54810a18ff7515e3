"""Scenario 2: callers join a conference; open /stream (or the control page) to play music.

With QUORUM set, callers wait on hold music until that many have dialled in.
Run it with `python scenario-2.py` once .env holds your application id and private key.
See README.md.
"""

import gc
import hmac
import threading
import time
from dataclasses import dataclass, field

import requests
from flask import Flask, jsonify, render_template, request
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


def answer_ncco(settings, role="join"):
    """The NCCO for a caller: a greeting, then the named conference.

    With QUORUM, a caller who arrives early is a waiting attendee (`startOnEnter: false`) and
    hears `musicOnHoldUrl` from Vonage "until the conversation starts"; the caller who makes the
    quorum joins with `startOnEnter: true`, which starts it and ends the hold music for all
    (https://developer.vonage.com/en/voice/voice-api/ncco-reference#conversation).
    """
    conference = {
        "join": Conversation(name=settings.conf_name),
        "wait": Conversation(
            name=settings.conf_name, startOnEnter=False, musicOnHoldUrl=[settings.stream_url]
        ),
        "start": Conversation(name=settings.conf_name, startOnEnter=True),
    }[role]
    ncco = [Talk(text="Please wait while we connect you to the conference"), conference]
    return [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in ncco]


@dataclass
class Conference:
    """The live legs (oldest first), the leg music plays on, and the quorum round; thread-safe."""

    quorum: int | None = None  # None: every caller just joins
    legs: dict = field(default_factory=dict)  # uuid -> {"uuid", "from", "since", "role", "host"}
    streaming_on: str | None = None
    started: bool = False  # with a quorum: has this round's conference started?
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # Far above any real conference; bounds memory if unsigned webhooks are flooded.
    MAX_LEGS = 1000

    def joined(self, uuid, caller, host=None):
        """Record a new leg and return how it joins: "join", "wait" or "start"."""
        with self._lock:
            if uuid in self.legs:  # Vonage retried the answer webhook: same leg, same answer
                return self.legs[uuid]["role"]
            if self.quorum is None or self.started:
                role = "join"
            elif len(self.legs) + 1 >= self.quorum:
                role, self.started = "start", True
            else:
                role = "wait"
            self.legs[uuid] = {
                "uuid": uuid,
                "from": caller,
                "since": time.time(),
                "role": role,
                "host": host,
            }
            if len(self.legs) > self.MAX_LEGS:
                del self.legs[next(iter(self.legs))]
            return role

    def left(self, uuid):
        with self._lock:
            self.legs.pop(uuid, None)
            if self.streaming_on == uuid:
                self.streaming_on = None
            if not self.legs:
                self.started = False  # everyone has gone: the next caller starts a new round

    def stream_candidates(self):
        """Copies of the live legs to play music through: the leg the music already plays on
        first (so a second Play restarts it there, where Stop reaches it), then the newest."""
        with self._lock:
            legs = sorted(
                reversed(self.legs.values()), key=lambda leg: leg["uuid"] != self.streaming_on
            )
            return [dict(leg) for leg in legs]

    def waiting_for_quorum(self):
        with self._lock:
            return self._waiting()

    def _waiting(self):  # call with the lock held
        return self.quorum is not None and not self.started and bool(self.legs)

    def streaming_leg(self):
        """A copy of the leg music plays on, or None."""
        with self._lock:
            leg = self.legs.get(self.streaming_on)
            return dict(leg) if leg else None

    def set_streaming(self, uuid):
        with self._lock:
            self.streaming_on = uuid

    def snapshot(self):
        """A copy of the state, safe to turn into JSON while calls come and go."""
        with self._lock:
            return {
                "legs": [
                    {k: leg[k] for k in ("uuid", "from", "since", "role")}
                    for leg in self.legs.values()
                ],
                "streaming_on": self.streaming_on,
                "quorum": self.quorum,
                "waiting_for_quorum": self._waiting(),  # taken with the legs, in one look
            }


def load_settings(check_port=False):
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    pages = [
        ("the control page", "/"),
        ("play music into the conference", "/stream"),
        ("stop the music", "/stream/stop"),
    ]
    return config.startup("Scenario 2", voice_api=True, browser=pages, check_port=check_port)


# The owner's routes: with CONTROL_TOKEN set, they need it.
CONTROLS = {"control_page", "status", "start_stream", "stop_stream"}


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    webhooks.configure(app, settings.signature_secret, trusted_proxies=settings.trusted_proxies)
    # Each caller gets one of three NCCOs: serialised once here, not per request (see bench/).
    nccos = {
        role: app.json.response(answer_ncco(settings, role)).get_data()
        for role in ("join", "wait", "start")
    }
    conference = Conference(quorum=settings.quorum)
    clients = voice_api.Clients(settings)
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
                    "refused %s from %s: wrong or missing token", request.path, request.remote_addr
                )
                return jsonify(error="wrong or missing token: use the link printed at startup"), 401
        return None

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer_call():
        """Answer webhook: greet the caller and put them in the conference."""
        try:
            call = webhooks.params()
        except BadRequest:  # whatever the request holds, a real caller still gets connected
            call = {}
        uuid, role = webhooks.leg_uuid(call), "join"
        if uuid:
            role = conference.joined(uuid, webhooks.text(call, "from"), webhooks.region_host(call))
            # DEBUG, not INFO: a log line per answer costs a third of the webhook's speed under
            # load (bench/); the access log and the event log already show each call.
            app.logger.debug("leg %s joined %s (%s)", uuid, settings.conf_name, role)
        return app.response_class(nccos[role], mimetype="application/json")

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def call_event():
        """Event webhook: log each event and forget legs that have ended."""
        event = webhooks.params()
        uuid, status = webhooks.leg_uuid(event), webhooks.describe(event)
        app.logger.info("event %s for leg %s", status, uuid or "?")
        if uuid and status in webhooks.FINAL_STATUSES:
            conference.left(uuid)
        return "", 200

    @app.get("/")
    def control_page():
        """The control page: who is in, whether music plays, and Play / Stop buttons."""
        return render_template(
            "control.html", conference=settings.conf_name, quorum=settings.quorum
        )

    @app.get("/status")
    def status():
        """The conference's state as JSON: live legs and where music plays."""
        return jsonify(conference=settings.conf_name, **conference.snapshot())

    @app.get("/stream")
    def start_stream():
        """Play STREAM_URL into the conference through the newest live leg."""
        if conference.waiting_for_quorum():
            # Its callers are on Vonage's hold music; a stream now would reach one of them only.
            return fail(
                409,
                f"the conference has not started: callers hear the hold music "
                f"until {settings.quorum} are in",
            )
        started, gone = time.monotonic(), 0
        for leg in conference.stream_candidates():
            if time.monotonic() - started + voice_api.WORST_CALL > BROWSER_BUDGET:
                return fail(504, "the Voice API is answering too slowly: try again")
            uuid, voice = leg["uuid"], clients.voice(leg["host"])
            try:
                voice.play_audio_into_call(uuid, music)
            except NotFoundError:
                # Vonage no longer knows the leg (we missed its hang-up): try the next one.
                app.logger.info("leg %s is gone; forgetting it", uuid)
                conference.left(uuid)
                gone += 1
                continue
            except (VonageError, requests.RequestException) as error:
                return fail(*voice_api.explain(error, voice.http_client.api_host, "start"))
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
        leg = conference.streaming_leg()
        if leg is None:
            return fail(409, "nothing is streaming: start the music first (Play music, or /stream)")
        uuid, voice = leg["uuid"], clients.voice(leg["host"])
        try:
            voice.stop_audio_stream(uuid)
        except NotFoundError:
            # The music finished or the caller hung up; /stream will find out which if it must.
            conference.set_streaming(None)
            return fail(409, "Vonage has no stream on that call any more: nothing to stop")
        except (VonageError, requests.RequestException) as error:
            return fail(*voice_api.explain(error, voice.http_client.api_host, "stop"))
        conference.set_streaming(None)
        app.logger.info("stopped the stream on leg %s", uuid)
        return jsonify(message="stopped the stream", uuid=uuid)

    return app


if __name__ == "__main__":
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects need no collecting: spares webhooks 50 ms pauses (bench/)
    app.run(host=settings.host, port=settings.port)
