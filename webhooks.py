"""What both scenarios do with a webhook request, whatever Vonage (or anyone else) sends."""

import logging

from flask import abort, jsonify, request
from werkzeug.exceptions import HTTPException

# Calls that are over: Vonage sends no more events for the leg after one of these.
# https://developer.vonage.com/en/voice/voice-api/webhook-reference#event-webhook
FINAL_STATUSES = frozenset(
    {"completed", "busy", "cancelled", "failed", "rejected", "timeout", "unanswered"}
)


def params():
    """The webhook's fields: the query string for GET, the JSON body for POST.

    Vonage sends GET by default and a JSON body when the application's method is POST
    (https://developer.vonage.com/en/voice/voice-api/webhook-reference#answer-webhook).
    """
    if request.method == "GET" or not request.content_length:
        return request.args.to_dict()
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object, as Vonage sends with POST")
    return body


def text(fields, name):
    """A field's value if it is a non-empty string, else None: never trust a webhook's types."""
    value = fields.get(name)
    return value if isinstance(value, str) and value else None


def describe(fields):
    """What happened in an event, for the log: its status, or its type when it has none."""
    return text(fields, "status") or text(fields, "type") or "unknown event"


def configure(app):
    """Answer errors as JSON and log at INFO, the same for both scenarios."""

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description), error.code

    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
