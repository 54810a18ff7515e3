"""Scenario 2: callers join a conference; open /stream (or the control page) to play music.

With QUORUM set, callers wait on hold music until that many have dialled in.
Run it with `python scenario-2.py` once .env holds your application id and private key.
See README.md.
"""

import gc
import hmac
import time

import requests
from flask import Flask, jsonify, render_template, request
from vonage import VonageError
from vonage_http_client.errors import NotFoundError
from vonage_voice.models import AudioStreamOptions, Conversation, Talk
from werkzeug.exceptions import BadRequest

import conference_store
import settings as config
import voice_api
import webhooks

# What the log says when a caller joins unrecorded (the benchmark counts these lines).
JOINED_UNRECORDED = "joins without the store's word"

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


def open_conference(settings):
    """The conference's store; if it cannot be reached, one line naming it, and exit 2."""
    try:
        return conference_store.open_store(settings.state_url, settings.conf_name, settings.quorum)
    except conference_store.StoreError as error:
        config.exit_with(f"STATE_URL: {error}")


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
    # The live legs, the leg the music plays on and the quorum round, in STATE_URL's store, so
    # they outlive this process and are shared by every process serving this number.
    conference = open_conference(settings)
    webhooks.configure(
        app,
        settings.signature_secret,
        health_problem=conference.problem,
        shared_tokens=conference,  # a replayed webhook is refused by every process
        trusted_proxies=settings.trusted_proxies,
    )
    # Each caller gets one of three NCCOs: serialised once here, not per request (see bench/).
    nccos = {
        role: app.json.response(answer_ncco(settings, role)).get_data()
        for role in ("join", "wait", "start")
    }
    clients = voice_api.Clients(settings)
    music = AudioStreamOptions(
        stream_url=[settings.stream_url], level=settings.stream_level, loop=settings.stream_loop
    )
    app.extensions["conference"] = conference  # so tests can see the live legs

    def fail(status, message):
        app.logger.warning("%s", message)
        return jsonify(error=message), status

    @app.errorhandler(conference_store.StoreError)
    def store_failed(error):
        # 503: the event webhook's sender (Vonage) retries later; the page shows the message.
        return fail(503, str(error))

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
            try:
                role = conference.joined(
                    uuid, webhooks.text(call, "from"), webhooks.region_host(call)
                )
            except conference_store.StoreError as error:
                # Never drop a caller for our bookkeeping: they join, maybe unrecorded (a store
                # that hangs may still record them when it wakes).
                app.logger.warning("leg %s %s: %s", uuid, JOINED_UNRECORDED, error)
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
            try:
                conference.set_streaming(uuid)
            except conference_store.StoreError as error:  # say what did happen
                return fail(503, f"the music plays on leg {uuid}, but it was not recorded: {error}")
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
        try:
            conference.set_streaming(None)
        except conference_store.StoreError as error:  # say what did happen
            return fail(503, f"the music stopped on leg {uuid}, but it was not recorded: {error}")
        app.logger.info("stopped the stream on leg %s", uuid)
        return jsonify(message="stopped the stream", uuid=uuid)

    return app


if __name__ == "__main__":
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects need no collecting: spares webhooks 50 ms pauses (bench/)
    app.run(host=settings.host, port=settings.port)
