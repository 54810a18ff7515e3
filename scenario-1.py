"""Scenario 1: a caller dials your Vonage number and hears an audio stream.

Run it with `python scenario-1.py`; it needs no configuration. See README.md.
"""

import gc

from flask import Flask
from vonage_voice.models import Stream

import settings as config
import webhooks


def answer_ncco(settings):
    """The NCCO for every incoming call: play the stream (level and loop only when set)."""
    stream = Stream(
        streamUrl=[settings.stream_url], level=settings.stream_level, loop=settings.stream_loop
    )
    return [stream.model_dump(mode="json", by_alias=True, exclude_none=True)]


def load_settings(check_port=False):
    """Settings from the environment and .env; prints the URLs to paste, or exits 2 on errors."""
    return config.startup("Scenario 1", check_port=check_port)


def create_app(settings=None):
    """Build the webhook server; without `settings`, load them (as `flask --app` does)."""
    settings = settings or load_settings()
    app = Flask(__name__)
    webhooks.configure(app, settings.signature_secret, trusted_proxies=settings.trusted_proxies)
    # The same NCCO for every call: serialised once here, not on every request (see bench/).
    ncco_json = app.json.response(answer_ncco(settings)).get_data()

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer_call():
        """Answer webhook: Vonage asks what to do with a call to your number."""
        return app.response_class(ncco_json, mimetype="application/json")

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def call_event():
        """Event webhook: Vonage reports what happens on the call."""
        event = webhooks.params()
        app.logger.info(
            "event %s for leg %s", webhooks.describe(event), webhooks.text(event, "uuid") or "?"
        )
        return "", 200

    return app


if __name__ == "__main__":
    settings = load_settings(check_port=True)  # a clear line, not a socket error, if it cannot
    app = create_app(settings)
    gc.freeze()  # start-up objects need no collecting: spares webhooks 50 ms pauses (bench/)
    app.run(host=settings.host, port=settings.port)
