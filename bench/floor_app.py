"""The floor: a bare Flask app that answers the webhook paths with fixed bytes.

It is what a webhook costs in Flask and the server with none of our code. The benchmark serves
it on the same server as each scenario (`python bench/floor_app.py` like `python
scenario-N.py`, or Gunicorn with the project's gunicorn.conf.py) and compares the two.

FLOOR_BODY (hex) and FLOOR_CONTENT_TYPE hold the exact bytes and content type the scenario's
answer webhook returned; the event route returns the same empty 200 as the scenarios. Neither
route reads the request: that work is ours, and is what the comparison measures.
"""

import os

from flask import Flask, Response


def create_app():
    """The floor app, for `python -m gunicorn 'floor_app:create_app()'`."""
    body = bytes.fromhex(os.environ.get("FLOOR_BODY", ""))
    content_type = os.environ.get("FLOOR_CONTENT_TYPE", "application/json")
    app = Flask(__name__)

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer():
        return Response(body, content_type=content_type)

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def event():
        return "", 200

    return app


if __name__ == "__main__":
    # The same call the scenarios make: Flask's development server, threaded by default.
    create_app().run(host=os.environ["HOST"], port=int(os.environ["PORT"]))
