"""Scenario 1: a caller dials your Vonage number and hears an audio stream.

Run it with `python scenario-1.py`; it needs no configuration. See README.md.
"""

import gc

from flask import Blueprint, Flask, current_app
from vonage_voice.models import Stream, Talk

import audio
import startup
import webhooks


def answer_ncco(settings):
    """The NCCO for every incoming call: GREETING if set (audio or text), then the stream
    (level and loop only when set)."""
    ncco = [
        Stream(
            streamUrl=[settings.stream_url], level=settings.stream_level, loop=settings.stream_loop
        )
    ]
    if settings.greeting and settings.greeting.startswith(("http://", "https://")):
        ncco.insert(0, Stream(streamUrl=[settings.greeting]))
    elif settings.greeting:
        ncco.insert(0, Talk(text=settings.greeting, language=settings.greeting_language))
    return [action.model_dump(mode="json", by_alias=True, exclude_none=True) for action in ncco]


# The webhooks Vonage calls; with VONAGE_SIGNATURE_SECRET set, only signed ones are served.
vonage = Blueprint("vonage", __name__)
vonage.before_request(webhooks.check_signature)


@vonage.route("/webhooks/answer", methods=["GET", "POST"])
def answer_call():
    """Answer webhook: Vonage asks what to do with a call to your number."""
    return webhooks.ncco_response(current_app.extensions["ncco"])


@vonage.route("/webhooks/event", methods=["GET", "POST"])
def call_event():
    """Event webhook: Vonage reports what happens on the call."""
    event = webhooks.params()
    current_app.logger.info(
        "event %s for leg %s", webhooks.describe(event), webhooks.text(event, "uuid") or "?"
    )
    return "", 200


def load_settings(check_port=False):
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    return startup.startup("Scenario 1", check_port=check_port)


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    webhooks.init_app(app, settings)
    # The same NCCO for every call: serialised once, not on every request.
    app.extensions["ncco"] = app.json.response(answer_ncco(settings)).get_data()
    app.register_blueprint(vonage)
    app.register_blueprint(audio.files)
    return app


if __name__ == "__main__":
    startup.command_line(__doc__)  # --help; any other argument is a mistake, said before serving
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects never need collecting: no collector pauses on webhooks
    app.run(host=settings.host, port=settings.port)
