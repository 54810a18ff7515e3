"""Scenario 2: callers join a conference; open /stream (or the control page) to play music.

With QUORUM set, callers wait on hold music until that many have dialled in.
Run it with `python scenario-2.py` once .env holds your application id and private key.
See README.md.
"""

import gc
import math
import sys
import threading
import time

import requests
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from vonage import VonageError
from vonage_http_client.errors import NotFoundError
from vonage_voice.models import AudioStreamOptions, Conversation, Stream, Talk, TtsStreamOptions
from werkzeug.exceptions import BadRequest

import audio
import conference_store
import settings as config
import startup
import voice_api
import webhooks

# However many legs /stream has to try, the browser gets its answer within this many seconds.
BROWSER_BUDGET = 15
NO_ONE_HERE = "no one is in the conference yet: dial your Vonage number first"
# Logged when the store fails and a caller joins unrecorded (the benchmark counts these).
JOINED_UNRECORDED = "joins without the store's word"
DEFAULT_GREETING = "Please wait while we connect you to the conference"


def greeting(settings):
    """What a caller hears first: GREETING's audio (a `stream`), or its text spoken."""
    if settings.greeting and settings.greeting.startswith(("http://", "https://")):
        return Stream(streamUrl=[settings.greeting])
    return Talk(text=settings.greeting or DEFAULT_GREETING, language=settings.greeting_language)


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
    ncco = [greeting(settings), conference]
    return [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in ncco]


def the_conference():
    """The conference's store (STATE_URL's): live legs, where the music plays, the quorum round.
    It outlives this process and is shared by every process serving this number."""
    return current_app.extensions["conference"]


def the_settings():
    """The settings this app was built with."""
    return current_app.extensions["settings"]


# The webhooks Vonage calls; with VONAGE_SIGNATURE_SECRET set, only signed ones are served.
vonage = Blueprint("vonage", __name__)
vonage.before_request(webhooks.check_signature)


@vonage.route("/webhooks/answer", methods=["GET", "POST"])
def answer_call():
    """Answer webhook: greet the caller and put them in the conference."""
    try:
        call = webhooks.params()
    except BadRequest:  # whatever the request holds, a real caller still gets connected
        call = {}
    uuid, role = webhooks.leg_uuid(call), "join"
    if uuid and not webhooks.unsigned():  # an unsigned caller joins, but is not recorded
        try:
            role = the_conference().joined(
                uuid, webhooks.text(call, "from"), webhooks.region_host(call)
            )
        except conference_store.StoreError as error:
            # Never drop a caller for our bookkeeping: they join, maybe unrecorded (a store
            # that hangs may still record them when it wakes).
            current_app.logger.warning("leg %s %s: %s", uuid, JOINED_UNRECORDED, error)
        # DEBUG: a line per answer would slow every answer; the event log shows each call.
        current_app.logger.debug("leg %s joined %s (%s)", uuid, the_settings().conf_name, role)
    return webhooks.ncco_response(current_app.extensions["nccos"][role])


@vonage.route("/webhooks/event", methods=["GET", "POST"])
def call_event():
    """Event webhook: log each event and forget legs that have ended."""
    event = webhooks.params()
    uuid, status = webhooks.leg_uuid(event), webhooks.describe(event)
    current_app.logger.info("event %s for leg %s", status, uuid or "?")
    if uuid and status == "answered":
        # Vonage sends `answered` once it has the call's NCCO, so after the answer webhook's
        # write: a leg the store does not know was lost (an outage) and joins as a plain
        # caller. `started` and `ringing` may come before the answer webhook: not those
        # (https://developer.vonage.com/en/voice/voice-api/webhook-reference#event-webhook).
        if the_conference().answered(
            uuid, webhooks.text(event, "from"), webhooks.region_host(event)
        ):
            current_app.logger.info("leg %s recorded from its answered event", uuid)
    elif uuid and status in webhooks.FINAL_STATUSES:
        moved = the_conference().ended(uuid)
        if moved:  # to this request only, however often Vonage sends the event
            # Vonage waits for this answer: the music starts again in the background.
            app = current_app._get_current_object()
            threading.Thread(target=follow, args=(app, uuid, *moved), daemon=True).start()
    return "", 200


def follow(app, ended, leg, music):
    """Start the music again on `leg`, the newest live leg, after its leg `ended` (Vonage
    cannot resume a stream: it starts from the beginning). A leg Vonage no longer knows is
    forgotten, and the music moves on to the next one."""
    with app.app_context():
        try:
            while not play_again(app, ended, leg, music):
                ended, moved = leg["uuid"], the_conference().ended(leg["uuid"])
                if not moved:
                    return
                leg, music = moved
        except conference_store.StoreError as error:
            app.logger.warning("the music stopped following: %s", error)


def play_again(app, ended, leg, music):
    """Play `music` on `leg`: True once done (played, or Vonage failed and the store says so),
    False if Vonage no longer knows the leg."""
    voice = app.extensions["voice_api"].voice(leg["host"])
    try:
        voice.play_audio_into_call(leg["uuid"], music_options(music))
    except NotFoundError:
        app.logger.info("leg %s is gone; the music moves on", leg["uuid"])
        return False
    except (VonageError, requests.RequestException) as error:
        _, why = voice_api.explain(error, voice.http_client.api_host, "start")
        note = f"the music could not follow to leg {leg['uuid']}: {why}"
        app.logger.warning("%s", note)
        the_conference().set_streaming(None, note=note)
        return True
    app.logger.info("the music follows from leg %s to leg %s", ended, leg["uuid"])
    return True


def music_options(music):
    """The Voice API's options for `music` as the store keeps it; a file of ours played a set
    number of times plays the loops left of it."""
    loop = music.get("loop")
    if loop and music.get("seconds"):
        left = (music["follow_until"] - time.time()) / music["seconds"]
        loop = max(1, math.ceil(left))
    return AudioStreamOptions(stream_url=[music["url"]], level=music.get("level"), loop=loop)


def now_playing(settings):
    """What /stream plays, as the store keeps it: with "follow_until", the time until which it
    follows the conference when its leg ends. Forever with STREAM_LOOP=0; a file of ours, for
    its length times its loops; a remote file played a set number of times, never (its length
    is unknown)."""
    loop, seconds = settings.stream_loop, settings.stream_seconds
    if loop == 0:
        follow_until = math.inf
    elif seconds:
        follow_until = time.time() + seconds * (loop or 1)
    else:
        follow_until = 0
    return {
        "url": settings.stream_url,
        "level": settings.stream_level,
        "loop": loop,
        "seconds": seconds,
        "follow_until": follow_until,
    }


# The owner's pages; with CONTROL_TOKEN set, they need it.
owner = Blueprint("owner", __name__)
owner.before_request(webhooks.owner_only)


@owner.get("/")
def control_page():
    """The control page: who is in, whether music plays, and Play / Stop buttons."""
    settings = the_settings()
    return render_template(
        "control.html",
        conference=settings.conf_name,
        quorum=settings.quorum,
        languages=sorted(config.LANGUAGES),
    )


@owner.get("/status")
def status():
    """The conference's state as JSON: live legs and where music plays."""
    return jsonify(conference=the_settings().conf_name, **the_conference().snapshot())


@owner.get("/stream")
def start_stream():
    """Play STREAM_URL into the conference through the newest live leg."""
    settings = the_settings()
    music = now_playing(settings)
    return through_a_leg(
        lambda voice, uuid: voice.play_audio_into_call(uuid, music_options(music)),
        lambda uuid: now_streaming(uuid, music),
    )


def through_a_leg(play, played):
    """`play(voice, uuid)` into the conference through the leg the music already plays on,
    else the newest live leg, trying the next while Vonage says a leg is gone; `played(uuid)`
    is the answer once it worked."""
    conference = the_conference()
    if conference.waiting_for_quorum():
        # Its callers are on Vonage's hold music; a stream now would reach one of them only.
        return webhooks.failure(
            409,
            f"the conference has not started: callers hear the hold music "
            f"until {the_settings().quorum} are in",
        )
    started, gone = time.monotonic(), 0
    for leg in conference.stream_candidates():
        if time.monotonic() - started + voice_api.WORST_CALL > BROWSER_BUDGET:
            return webhooks.failure(504, "the Voice API is answering too slowly: try again")
        voice = current_app.extensions["voice_api"].voice(leg["host"])
        try:
            play(voice, leg["uuid"])
        except NotFoundError:
            # Vonage no longer knows the leg (we missed its hang-up): try the next one.
            current_app.logger.info("leg %s is gone; forgetting it", leg["uuid"])
            conference.left(leg["uuid"])
            gone += 1
            continue
        except (VonageError, requests.RequestException) as error:
            return webhooks.failure(*voice_api.explain(error, voice.http_client.api_host, "start"))
        return played(leg["uuid"])
    if gone:  # say why the callers vanished: a wrong region also answers 404
        ended = f"Vonage says the {gone} call(s) we had have ended (404)"
        region = "if people are still on, check VONAGE_API_HOST is their region"
        return webhooks.failure(409, f"{ended}: {NO_ONE_HERE}; {region}")
    return webhooks.failure(409, NO_ONE_HERE)


def now_streaming(uuid, music):
    """Record that `music` plays on leg `uuid`, and say so."""
    try:
        the_conference().set_streaming(uuid, music)
    except conference_store.StoreError as error:  # say what did happen
        return webhooks.failure(
            503, f"the music plays on leg {uuid}, but it was not recorded: {error}"
        )
    current_app.logger.info("streaming %s into leg %s", music["url"], uuid)
    return jsonify(message="streaming into the conference", uuid=uuid, stream_url=music["url"])


@owner.get("/stream/stop")
def stop_stream():
    """Stop the music on the leg it was started on."""
    conference = the_conference()
    leg = conference.streaming_leg()
    if leg is None:
        return webhooks.failure(
            409, "nothing is streaming: start the music first (Play music, or /stream)"
        )
    voice = current_app.extensions["voice_api"].voice(leg["host"])
    try:
        voice.stop_audio_stream(leg["uuid"])
    except NotFoundError:
        # The music finished or the caller hung up; /stream will find out which if it must.
        conference.set_streaming(None)
        return webhooks.failure(409, "Vonage has no stream on that call any more: nothing to stop")
    except (VonageError, requests.RequestException) as error:
        return webhooks.failure(*voice_api.explain(error, voice.http_client.api_host, "stop"))
    try:
        conference.set_streaming(None)
    except conference_store.StoreError as error:  # say what did happen
        return webhooks.failure(
            503, f"the music stopped on leg {leg['uuid']}, but it was not recorded: {error}"
        )
    current_app.logger.info("stopped the stream on leg %s", leg["uuid"])
    return jsonify(message="stopped the stream", uuid=leg["uuid"])


@owner.post("/talk")
def talk():
    """Speak `text` (in `language`) into the conference, through the leg /stream would use."""
    fields = request.get_json(silent=True)
    if not isinstance(fields, dict):  # a form, or nothing
        fields = request.form
    text = fields.get("text")
    text = text.strip() if isinstance(text, str) else ""
    language = fields.get("language") or None
    if not 1 <= len(text) <= config.MAX_TALK:
        return webhooks.failure(400, f"give text to say: 1 to {config.MAX_TALK:,} characters")
    if language is not None and (not isinstance(language, str) or language not in config.LANGUAGES):
        return webhooks.failure(
            400, "give a language Vonage speaks, such as en-GB or es-ES, or none for en-US"
        )
    words = TtsStreamOptions(text=text, language=language)
    return through_a_leg(
        lambda voice, uuid: voice.play_tts_into_call(uuid, words),
        lambda uuid: jsonify(message="speaking into the conference", uuid=uuid),
    )


@owner.post("/talk/stop")
def stop_talk():
    """Stop the words /talk is speaking, on the leg it chose."""
    leg = next(iter(the_conference().stream_candidates()), None)
    if leg is None:
        return webhooks.failure(409, NO_ONE_HERE)
    voice = current_app.extensions["voice_api"].voice(leg["host"])
    try:
        voice.stop_tts(leg["uuid"])
    except NotFoundError:
        return webhooks.failure(409, "Vonage is saying nothing on that call: nothing to stop")
    except (VonageError, requests.RequestException) as error:
        return webhooks.failure(*voice_api.explain(error, voice.http_client.api_host, "stop"))
    return jsonify(message="stopped speaking", uuid=leg["uuid"])


FORGET_LEGS = ".venv/bin/python scenario-2.py --forget-legs"


def open_conference(settings):
    """The conference's store; if it cannot be reached, one line naming it, and exit 2."""
    try:
        return conference_store.open_store(settings.state_url, settings.conf_name, settings.quorum)
    except conference_store.StoreError as error:
        startup.exit_with(f"STATE_URL: {error}")


def forget_legs():
    """Forget the live legs in STATE_URL's store (callers from an earlier run), and exit."""
    settings = startup.load_settings(voice_api=True)
    forgotten = open_conference(settings).forget_legs()
    where = conference_store.describe(settings.state_url)
    print(f"Forgot {forgotten} live leg(s) of {settings.conf_name!r} in {where}.")


def load_settings(check_port=False):
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    pages = [
        ("the control page", "/"),
        ("play music into the conference", "/stream"),
        ("stop the music", "/stream/stop"),
    ]
    return startup.startup("Scenario 2", voice_api=True, browser=pages, check_port=check_port)


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    conference = open_conference(settings)
    startup.say_leftovers(conference, FORGET_LEGS)
    # A replayed webhook is refused by every process that shares the store.
    webhooks.init_app(app, settings, health_problem=conference.problem, shared_tokens=conference)
    app.extensions.update(
        settings=settings,
        conference=conference,
        voice_api=voice_api.Clients(settings),
        # Each caller gets one of three NCCOs: serialised once, not on every request.
        nccos={
            role: app.json.response(answer_ncco(settings, role)).get_data()
            for role in ("join", "wait", "start")
        },
    )
    app.register_blueprint(vonage)
    app.register_blueprint(owner)
    app.register_blueprint(audio.files)
    return app


if __name__ == "__main__":
    if startup.command_line(__doc__, forget_legs=forget_legs.__doc__).forget_legs:
        sys.exit(forget_legs())
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects never need collecting: no collector pauses on webhooks
    app.run(host=settings.host, port=settings.port)
