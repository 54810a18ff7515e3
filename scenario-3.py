"""Scenario 3: voicemail. A caller leaves a message; the owner hears it in a later call.

Vonage records the message (the NCCO `record` action) and tells the recording webhook where
the file is; this server downloads it with the application's JWT and keeps it in STATE_URL's
store. A call from MAILBOX_OWNER then hears each message, played with a `stream` action.
Run it with `python scenario-3.py` once .env holds your application id and private key.
See README.md.
"""

import gc
import hmac
import io
import re
import time
from datetime import datetime, timezone
from urllib.parse import quote, urlsplit

from flask import Blueprint, Flask, current_app, jsonify, render_template, request, send_file
from vonage_voice.models import Dtmf, Input, Record, Stream, Talk
from werkzeug.exceptions import BadRequest

import conference_store
import recordings
import startup
import voice_api
import webhooks
from conference_store import StoreError
from conference_store.mailbox import open_mailbox

PROMPT = "Leave a message after the tone; press # when you are done"
THANKS = "Thank you, goodbye"
MENU = "Press 1 to hear them again, 3 to delete them"
UNREACHABLE = "Your messages cannot be reached right now. Please try again later"
ENTER_PIN = "Please enter your PIN, then press hash"
PIN_TRIES = 3  # wrong PINs before goodbye
# Vonage's record action takes 3 to 10 seconds of silence to end on (NCCO reference, record).
END_ON_SILENCE = 5
KEY_SECONDS = 10  # how long the input action waits for a key: Vonage's maximum, 10


def to_json(ncco):
    return [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in ncco]


def leave_message_ncco(settings, base, caller=None):
    """The NCCO for a caller: the prompt, the recording (its webhook told who called), thanks."""
    event_url = f"{base}/webhooks/recording" + (f"?from={quote(caller)}" if caller else "")
    record = Record(
        format="mp3",
        beepStart=True,
        endOnKey="#",
        endOnSilence=END_ON_SILENCE,
        timeOut=settings.max_message_seconds,
        eventUrl=[event_url],
    )
    return to_json([Talk(text=PROMPT), record, Talk(text=THANKS)])


def pin_ncco(base, tries, text=ENTER_PIN):
    """Ask for the PIN (DTMF); its digits go to /webhooks/pin with the try's number."""
    keys = Dtmf(maxDigits=8, submitOnHash=True, timeOut=KEY_SECONDS)
    ask = Input(type=["dtmf"], dtmf=keys, eventUrl=[f"{base}/webhooks/pin?tries={tries}"])
    return to_json([Talk(text=text, bargeIn=True), ask])


def messages_ncco(base, messages):
    """The owner's NCCO: how many messages, each newest first, then the menu (DTMF)."""
    if not messages:
        return to_json([Talk(text="You have no new messages. Goodbye")])
    count = "1 new message" if len(messages) == 1 else f"{len(messages)} new messages"
    ncco = [Talk(text=f"You have {count}")]
    ncco += [Stream(streamUrl=[f"{base}/messages/{m.id}.mp3"]) for m in messages]
    # Deleting removes the messages heard, not one left while they played.
    menu_url = f"{base}/webhooks/menu?until={messages[0].left_at!r}"
    keys = Dtmf(maxDigits=1, timeOut=KEY_SECONDS)
    ncco += [Talk(text=MENU, bargeIn=True), Input(type=["dtmf"], dtmf=keys, eventUrl=[menu_url])]
    return to_json(ncco)


def the_mailbox():
    """The mailbox in STATE_URL's store: messages and downloads still to make."""
    return current_app.extensions["mailbox"]


def the_settings():
    return current_app.extensions["settings"]


def base_url():
    """Where Vonage reaches this server: PUBLIC_URL, else the address the request came to."""
    return the_settings().public_url or request.url_root.rstrip("/")


def the_messages_ncco():
    """The owner's NCCO, or a sorry when the store is down."""
    try:
        messages = the_mailbox().messages()
    except StoreError as error:
        current_app.logger.warning("the owner called, and the mailbox is down: %s", error)
        return to_json([Talk(text=UNREACHABLE)])
    return messages_ncco(base_url(), messages)


def is_owner(caller):
    owner = the_settings().mailbox_owner
    return bool(owner and caller and re.sub(r"\D", "", caller) == owner)


def pressed(fields):
    """The keys an input webhook reports: `dtmf.digits` (or `dtmf` itself, as older ones)."""
    dtmf = fields.get("dtmf")
    digits = dtmf.get("digits") if isinstance(dtmf, dict) else dtmf
    return digits if isinstance(digits, str) and digits.isdigit() else ""


# The webhooks Vonage calls; with VONAGE_SIGNATURE_SECRET set, only signed ones are served.
vonage = Blueprint("vonage", __name__)
vonage.before_request(webhooks.check_signature)


@vonage.route("/webhooks/answer", methods=["GET", "POST"])
def answer_call():
    """Answer webhook: the owner hears their messages (after the PIN); others leave one."""
    try:
        call = webhooks.params()
    except BadRequest:  # whatever the request holds, a real caller can still leave a message
        call = {}
    caller = webhooks.text(call, "from")
    # An unsigned webhook may claim any number: it only ever leaves a message.
    if is_owner(caller) and not webhooks.unsigned():
        if the_settings().mailbox_pin:
            return jsonify(pin_ncco(base_url(), 1))
        return jsonify(the_messages_ncco())
    return jsonify(leave_message_ncco(the_settings(), base_url(), caller))


@vonage.route("/webhooks/event", methods=["GET", "POST"])
def call_event():
    """Event webhook: log each event."""
    event = webhooks.params()
    uuid = webhooks.leg_uuid(event) or "?"
    current_app.logger.info("event %s for leg %s", webhooks.describe(event), uuid)
    return "", 200


@vonage.post("/webhooks/recording")
def recording_done():
    """Recording webhook: note the message, then download it in the background."""
    event = webhooks.params()
    raw = webhooks.text(event, "recording_url")
    url = recordings.recording_url(raw, the_settings().api_host)
    if url is None:
        host = urlsplit(raw or "").netloc or "none"
        return webhooks.failure(
            400,
            f"recording_url is not an https URL on a Vonage host ({host}): refused, no JWT sent",
        )
    caller = webhooks.text(request.args, "from")
    left_at, duration = when_and_how_long(event)
    # A store that is down answers 503 (init_app's handler): Vonage sends the webhook again.
    message_id = the_mailbox().expect(url, caller, left_at, duration)
    current_app.logger.info("message %s from %s: downloading it", message_id, caller or "unknown")
    current_app.extensions["downloads"].wake()
    return "", 204


def when_and_how_long(event):
    """When the message ended (now, if the webhook does not say) and its length in seconds."""
    try:
        start, end = (
            datetime.fromisoformat(event[k]).timestamp() for k in ("start_time", "end_time")
        )
    except (KeyError, TypeError, ValueError):
        return round(time.time(), 3), None
    return round(end, 3), max(0.0, end - start)


@vonage.route("/webhooks/pin", methods=["GET", "POST"])
def pin_entered():
    """Input webhook for the PIN: the messages, another try, or goodbye after PIN_TRIES."""
    tries = request.args.get("tries", type=int) or PIN_TRIES
    given = pressed(webhooks.params()).encode()
    if hmac.compare_digest(given, (the_settings().mailbox_pin or "").encode()):
        return jsonify(the_messages_ncco())
    current_app.logger.warning("wrong PIN on try %d of %d", tries, PIN_TRIES)
    if tries >= PIN_TRIES:
        return jsonify(to_json([Talk(text="Wrong PIN. Goodbye")]))
    return jsonify(pin_ncco(base_url(), tries + 1, "Wrong PIN. Please try again"))


@vonage.route("/webhooks/menu", methods=["GET", "POST"])
def menu_choice():
    """Input webhook after the messages: 1 plays them again, 3 deletes them."""
    choice = pressed(webhooks.params())
    if choice == "1":
        return jsonify(the_messages_ncco())
    until = request.args.get("until", type=float)
    if choice == "3" and until is not None:
        deleted = the_mailbox().delete_until(until)
        current_app.logger.info("the owner deleted %d message(s)", deleted)
        return jsonify(to_json([Talk(text="Your messages have been deleted. Goodbye")]))
    return jsonify(to_json([Talk(text="Goodbye")]))


# The messages' audio: Vonage streams it into the owner's call (no token: a URL with a query
# string may not play), so each address is a long random id that cannot be guessed.
audio = Blueprint("audio", __name__)


@audio.get("/messages/<message_id>.mp3")
def message_audio(message_id):
    """A message's MP3, with Range and caching; 404 once deleted."""
    data = the_mailbox().audio(message_id)
    if data is None:
        return webhooks.failure(404, "no such message: it may have been deleted")
    response = send_file(
        io.BytesIO(data), mimetype="audio/mpeg", conditional=True, etag=message_id, max_age=3600
    )
    # Only the owner's browser may keep a copy, not a shared cache.
    response.cache_control.public = False
    response.cache_control.private = True
    return response


# The owner's pages; with CONTROL_TOKEN set, they need it.
owner = Blueprint("owner", __name__)
owner.before_request(webhooks.owner_only)


@owner.get("/")
def mailbox_page():
    """The owner's page: the messages (who, when, how long), a player and Delete for each."""
    messages = [shown(m) for m in the_mailbox().messages()]
    response = current_app.make_response(render_template("voicemail.html", messages=messages))
    # As the control page's policy, and <audio> may play this server's files.
    response.headers["Content-Security-Policy"] = webhooks.PAGE_POLICY + "; media-src 'self'"
    return response


def shown(message):
    """A message as the page and /messages show it."""
    when = datetime.fromtimestamp(message.left_at, timezone.utc)
    return {
        "id": message.id,
        "from": message.caller,
        "left_at": when.isoformat(timespec="seconds"),
        "seconds": None if message.duration is None else round(message.duration),
        "bytes": message.size,
    }


@owner.get("/messages")
def list_messages():
    """The messages as JSON, newest first."""
    return jsonify(messages=[shown(m) for m in the_mailbox().messages()])


@owner.delete("/messages/<message_id>")
def delete_message(message_id):
    """Delete one message: its audio answers 404 from then on."""
    if not the_mailbox().delete(message_id):
        return webhooks.failure(404, "no such message: it may have been deleted already")
    current_app.logger.info("the owner deleted message %s", message_id)
    return jsonify(message="deleted", id=message_id)


def resume_downloads():
    """Start this process's downloads on its first request (Gunicorn forks after create_app)."""
    current_app.extensions["downloads"].ensure_running()


def open_store(settings):
    """The mailbox; if it cannot be reached, one line naming it, and exit 2."""
    try:
        return open_mailbox(settings.state_url)
    except StoreError as error:
        startup.exit_with(f"STATE_URL: {error}")


def in_effect(settings):
    """The settings scenario 3 runs with, in words, never a secret."""
    owner = settings.mailbox_owner or "none: every caller leaves a message"
    pin = ", with a PIN" if settings.mailbox_pin else ""
    return [
        f"mailbox owner {owner}{pin}",
        f"messages up to {settings.max_message_seconds} s",
        f"application {settings.application_id}",
        "messages in " + conference_store.describe(settings.state_url),
    ]


def load_settings(check_port=False):
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    pages = [("the messages", "/")]
    return startup.startup(
        "Scenario 3", number=3, browser=pages, check_port=check_port, in_effect=in_effect
    )


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    mailbox = open_store(settings)
    webhooks.init_app(app, settings, health_problem=mailbox.problem, shared_tokens=mailbox.store)
    auth = voice_api.ReusedJwtAuth(
        application_id=settings.application_id, private_key=settings.private_key
    )
    app.extensions.update(
        settings=settings,
        mailbox=mailbox,
        downloads=recordings.Downloader(mailbox, auth, app.logger),
    )
    app.before_request(resume_downloads)
    for blueprint in (vonage, audio, owner):
        app.register_blueprint(blueprint)
    return app


if __name__ == "__main__":
    startup.command_line(__doc__)  # --help; any other argument is a mistake, said before serving
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects never need collecting: no collector pauses on webhooks
    app.run(host=settings.host, port=settings.port)
