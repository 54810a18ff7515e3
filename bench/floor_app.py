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
                    opened.append(open_store(store))
                db = opened[0]
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO answers VALUES (?)", (request.args.get("uuid"),))
                db.execute("COMMIT")
        return Response(body, content_type=content_type)

    @app.route("/webhooks/event", methods=["GET", "POST"])
    def event():
        return "", 200

    return app


def open_store(path):
    """One connection for the process, in WAL mode with synchronous=NORMAL as scenario 2's."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS answers (uuid TEXT)")
    return db


if __name__ == "__main__":
    # The same call the scenarios make: Flask's development server, threaded by default.
    create_app().run(host=os.environ["HOST"], port=int(os.environ["PORT"]))
