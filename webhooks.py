"""What both scenarios do with a webhook request, whatever Vonage (or anyone else) sends."""

import hashlib
import hmac
import logging
import re
import time

import jwt
from flask import abort, jsonify, request
from vonage_jwt.errors import VonageVerifyJwtError
from vonage_jwt.verify_jwt import verify_signature
from werkzeug.exceptions import HTTPException

# Calls that are over: Vonage sends no more events for the leg after one of these.
# https://developer.vonage.com/en/voice/voice-api/webhook-reference#event-webhook
FINAL_STATUSES = frozenset(
    {"completed", "busy", "cancelled", "failed", "rejected", "timeout", "unanswered"}
)
MAX_BODY = 64 * 1024  # Vonage's webhooks are a few hundred bytes
TOKEN_MAX_AGE = 5 * 60  # seconds: a signed webhook older than this is a replay
# A value we keep or log: printable, no longer than any uuid, number or SIP URI Vonage sends.
_PLAIN = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_LEG_UUID = re.compile(r"[A-Za-z0-9-]{1,64}")  # Vonage's are hex with dashes
_REGION_URL = re.compile(r"https://((?:[a-z0-9-]+\.)+(?:vonage|nexmo)\.com)/?", re.I)


def params():
    """The webhook's fields: the query string for GET, the JSON body for POST.

    Vonage sends GET by default and a JSON body when the application's method is POST
    (https://developer.vonage.com/en/voice/voice-api/webhook-reference#answer-webhook).
    """
    if request.method == "GET" or not request.content_length:
        return request.args.to_dict()
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:  # json gives up on deeply nested input this way, not ValueError
        body = None
    if not isinstance(body, dict):
        abort(400, "the request body must be a JSON object, as Vonage sends with POST")
    return body


def text(fields, name):
    """A field's value if it is a plain, non-empty string; else None: never trust a webhook."""
    value = fields.get(name)
    return value if isinstance(value, str) and _PLAIN.fullmatch(value) else None


def leg_uuid(fields):
    """The call leg's uuid, if it looks like one: it goes into Voice API URLs, so no `/`, `?`..."""
    value = text(fields, "uuid")
    return value if value and _LEG_UUID.fullmatch(value) else None


def region_host(fields):
    """The host of the answer webhook's `region_url`, where this call is best controlled.

    Only Vonage's own hosts: our signed JWT goes to it, so a forged webhook must not choose it.
    """
    url = text(fields, "region_url")
    match = _REGION_URL.fullmatch(url) if url else None
    return match.group(1) if match else None


def describe(fields):
    """What happened in an event, for the log: its status, or its type when it has none."""
    return text(fields, "status") or text(fields, "type") or "unknown event"


def signature_problem(secret, authorization, body, now=None):
    """Why a webhook's signature is not Vonage's, or None when it is.

    Vonage signs each webhook with an HS256 JWT in `Authorization: Bearer`, whose
    `payload_hash` is the SHA-256 of the body
    (https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks).
    The SDK checks the signature, and refuses a token whose `iat` is ahead of our clock or
    whose `exp` has passed; the body and the token's age are ours to check.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "no signed token"
    try:
        if not verify_signature(token.strip(), secret):
            return "bad signature"
    except VonageVerifyJwtError as error:  # not a JWT, issued in the future, expired...
        why = re.search(r"\(['\"](.+)['\"]\)", str(error))
        return f"invalid token: {why.group(1) if why else 'not a JWT'}"
    claims = jwt.decode(token.strip(), options={"verify_signature": False})
    now = time.time() if now is None else now
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        return "token has no issue time"
    if now - issued > TOKEN_MAX_AGE:
        return "token expired"
    if body:
        expected = hashlib.sha256(body).hexdigest()
        if not hmac.compare_digest(str(claims.get("payload_hash", "")), expected):
            return "body does not match payload_hash"
    return None


def configure(app, signature_secret=None):
    """The same for both scenarios: body limit, signed webhooks, JSON errors, INFO logging."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY

    @app.before_request
    def check_webhook():
        body = request.get_data(cache=True)  # reads it all, so the size limit always applies
        if not signature_secret or not request.path.startswith("/webhooks/"):
            return None
        problem = signature_problem(signature_secret, request.headers.get("Authorization"), body)
        if problem:
            app.logger.warning("refused %r from %s: %s", request.path, request.remote_addr, problem)
            abort(401, "this webhook is not signed by Vonage")
        return None

    @app.errorhandler(HTTPException)
    def http_error(error):
        return jsonify(error=error.description), error.code

    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
