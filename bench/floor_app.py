"""The floors: bare Flask apps answering the webhook paths with a scenario's exact bytes.

FLOOR_BODY (hex) and FLOOR_CONTENT_TYPE: the scenario's answer; the event gets an empty 200.
With FLOOR_STORE (an SQLite file), the store floor: each answer first commits one row.
"""

import os
import sqlite3
import threading

from flask import Flask, Response, request


def create_app():
    """A floor app, for `python -m gunicorn 'floor_app:create_app()'`."""
    body = bytes.fromhex(os.environ.get("FLOOR_BODY", ""))
    content_type = os.environ.get("FLOOR_CONTENT_TYPE", "application/json")
    store, lock, opened = os.environ.get("FLOOR_STORE"), threading.Lock(), []
    app = Flask(__name__)

    @app.route("/webhooks/answer", methods=["GET", "POST"])
    def answer():
        if store:
            with lock:
                if not opened:  # in the worker, not in Gunicorn's arbiter before the fork
                    db = sqlite3.connect(store, isolation_level=None, check_same_thread=False)
                    opened.append(db)
                    db.executescript(SCHEMA)
                db = opened[0]
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO answers VALUES (?)", (request.args.get("uuid"),))
                db.execute("COMMIT")
        return Response(body, content_type=content_type)

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def event():
        return "", 200

    return app


# One connection for the process, in WAL mode with synchronous=NORMAL, as scenario 2's store.
SCHEMA = """PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS answers (uuid TEXT);"""


if __name__ == "__main__":
    # The same call the scenarios make: Flask's development server, threaded by default.
    create_app().run(host=os.environ["HOST"], port=int(os.environ["PORT"]))
