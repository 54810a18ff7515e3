"""What both scenarios do with a webhook request, whatever Vonage (or anyone else) sends."""

import hashlib
import hmac
import json
import logging
import mimetypes
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from flask import abort, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from conference_store import StoreError

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
# Vonage's own hosts, the only ones our signed JWT goes to (a region_url, a recording_url).
VONAGE_HOST = re.compile(r"(?:[a-z0-9-]+\.)+(?:vonage|nexmo)\.com", re.I)
_REGION_URL = re.compile(rf"https://({VONAGE_HOST.pattern})/?", re.I)


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


def signature_problem(secret, authorization, body, query=None, now=None):
    """Why a webhook's signature is not Vonage's, or None when it is.

    Vonage signs each webhook with an HS256 JWT in `Authorization: Bearer`, whose
    `payload_hash` is the SHA-256 of what it sent
    (https://developer.vonage.com/en/getting-started/concepts/webhooks#decoding-signed-webhooks).
    PyJWT checks the signature, and refuses a token whose `iat` is ahead of our clock or whose
    `exp` has passed, each with a typed error (the SDK's `verify_signature` makes this same
    call, but flattens those errors into one message); the payload and the token's age are ours.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "no signed token"
    try:
        claims = jwt.decode(token.strip(), secret, algorithms=["HS256"])
    except jwt.InvalidSignatureError:
        return "bad signature"
    except jwt.PyJWTError as error:  # not a JWT, issued in the future, expired...
        return f"invalid token: {error}"
    now = time.time() if now is None else now
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        return "token has no issue time"
    if now - issued > TOKEN_MAX_AGE:
        return "token expired"
    signed_hash = str(claims.get("payload_hash", ""))
    if (body or signed_hash) and not any(
        hmac.compare_digest(signed_hash, hashlib.sha256(payload).hexdigest())
        for payload in _signed_payloads(body, query)
    ):
        return "payload does not match payload_hash"
    return None


def _signed_payloads(body, query):
    """What `payload_hash` may be the hash of: the raw body; or, as Vonage's support describes
    it, the fields as JSON without spaces, in their order: the body's for POST, the query
    string's for GET (https://api.support.vonage.com/hc/en-us/articles/19033783342876)."""
    if body:
        yield body
        try:
            fields = json.loads(body)
        except (ValueError, RecursionError):
            return
    else:
        fields = query or {}
    yield json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()


class HideTokens(logging.Filter):
    """Keep `?token=...` (CONTROL_TOKEN in the owner's links) out of the servers' access logs."""

    def filter(self, record):
        message = record.getMessage()
        if "token=" in message:
            record.msg, record.args = _TOKEN_IN_URL.sub(r"\1<hidden>", message), ()
        return True


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")
HIDE_TOKENS = HideTokens()  # one instance, so adding it again changes nothing


class SeenTokens:
    """Signed tokens used in the last TOKEN_MAX_AGE seconds, and the request each one signed.

    A GET webhook's `payload_hash` covers no query string, so a captured token could be sent
    again with other fields. A token is accepted again only for the very same request (as when
    Vonage retries a webhook), never for another one.

    With a `shared` store (scenario 2's), every process that shares it remembers the same
    tokens, so a replay is refused by any of them; if the store fails, this process's memory
    still refuses replays sent to it.
    """

    MAX = 10_000  # tokens remembered at most; older ones have expired anyway

    def __init__(self, shared=None, logger=None):
        self._seen = {}  # token -> (digest of the request it signed, first seen at)
        self._lock = threading.Lock()
        self.shared, self.logger = shared, logger

    def first_or_same(self, token, signed_request):
        """True if `token` is new, or was seen for this very request; False for a replay."""
        token = hashlib.sha256(token.encode()).hexdigest()
        if self.shared is not None:
            try:
                return self.shared.first_or_same(token, signed_request, TOKEN_MAX_AGE)
            except StoreError as error:
                self.logger.warning("replays are checked in this process only: %s", error)
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(token)
            if seen and now - seen[1] <= TOKEN_MAX_AGE:
                return seen[0] == signed_request
            self._seen[token] = (signed_request, now)
            if len(self._seen) > self.MAX:
                self._seen = {t: v for t, v in self._seen.items() if now - v[1] <= TOKEN_MAX_AGE}
                while len(self._seen) > self.MAX:
                    del self._seen[next(iter(self._seen))]
            return True


class QuietHealthChecks(logging.Filter):
    """Keep a platform's health probes (every few seconds, for ever) out of the access log."""

    def filter(self, record):
        return HEALTH_PATH not in record.getMessage()


HEALTH_PATH = "/healthz"
ANSWER_PATH = "/webhooks/answer"
QUIET_HEALTH_CHECKS = QuietHealthChecks()

# What an HTML page of ours (the control page) may do: run its own script and stylesheet from
# static/, fetch from this server, show its `data:` favicon (which spares a request for
# /favicon.ico); nothing inline, no plugins, forms, <base> or other origins, and no framing.
PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app, settings, health_problem=None, shared_tokens=None):
    """What every scenario's app does on every request: a body limit, JSON errors, protective
    headers, INFO logging, a health check at /healthz, and the caller's address behind proxies.

    `health_problem()` returns why the server cannot do its job, or None when it can;
    `shared_tokens` is a store that remembers signed tokens for every process (SeenTokens).
    The webhook routes check signatures with `check_signature`, the owner's with `owner_only`.
    """
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    if settings.trusted_proxies:
        # Each proxy appends the address it saw, so the caller's is the Nth from the right;
        # anything further left the caller wrote, and is never read. Only the address: nothing
        # here depends on the scheme or host a proxy would also forward.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=0)
    app.extensions["webhooks"] = Guard(
        settings.signature_secret,
        settings.control_token,
        SeenTokens(shared_tokens, app.logger),
        health_problem,
    )
    app.add_url_rule(HEALTH_PATH, "healthz", health)
    app.before_request(read_body)
    app.register_error_handler(HTTPException, http_error)
    # 503: the event webhook's sender (Vonage) retries later; the page shows the message.
    app.register_error_handler(StoreError, lambda error: failure(503, str(error)))
    app.after_request(protective_headers)
    # With nosniff, a browser refuses a script served as anything but JavaScript, and the
    # type comes from the system's tables (on Windows, its registry, sometimes text/plain).
    mimetypes.add_type("text/javascript", ".js")
    mimetypes.add_type("text/css", ".css")

    if app.logger.level == logging.NOTSET:
        app.logger.setLevel(logging.INFO)
    for name in ("werkzeug", "gunicorn.access"):  # the development server's, Gunicorn's
        logging.getLogger(name).addFilter(HIDE_TOKENS)
        logging.getLogger(name).addFilter(QUIET_HEALTH_CHECKS)


@dataclass(frozen=True)
class Guard:
    """The secrets and memory that `check_signature` and `owner_only` check requests against."""

    signature_secret: str | None
    control_token: str | None
    seen_tokens: "SeenTokens"
    health_problem: Callable[[], str | None] | None


def failure(status, message):
    """An error the user sees, as JSON, and logged as a warning."""
    current_app.logger.warning("%s", message)
    return jsonify(error=message), status


def ncco_response(ncco_json):
    """An answer webhook's reply: NCCO bytes serialised once, at start-up."""
    return current_app.response_class(ncco_json, mimetype="application/json")


def health():
    """Health check for a container platform or load balancer: no token, no call data."""
    check = current_app.extensions["webhooks"].health_problem
    problem = check() if check else None
    if problem:
        return jsonify(status="unavailable", error=problem), 503
    return jsonify(status="ok")


def read_body():
    """Read every body whole, so the size limit applies to every request."""
    request.get_data(cache=True)


def check_signature():
    """With VONAGE_SIGNATURE_SECRET set, refuse a webhook that Vonage did not sign (401)."""
    guard = current_app.extensions["webhooks"]
    if not guard.signature_secret:
        return None
    authorization, body = request.headers.get("Authorization"), request.get_data(cache=True)
    problem = signature_problem(guard.signature_secret, authorization, body, request.args.to_dict())
    signed_request = hashlib.sha256(f"{request.method} {request.full_path}\n".encode() + body)
    if not problem and not guard.seen_tokens.first_or_same(
        authorization, signed_request.hexdigest()
    ):
        problem = "token reused for another request"
    if problem and request.path == ANSWER_PATH:
        # Never drop a caller: Vonage has sent the answer webhook unsigned (its 2020 signed
        # webhooks guide) and may send callbacks unsigned during its own incidents. The caller
        # gets the plain NCCO, recorded nowhere (see unsigned()); conference names are scoped
        # to the application, so it grants nothing.
        current_app.logger.warning(
            "answered %r from %s unsigned, with the plain NCCO: %s",
            request.path,
            request.remote_addr,
            problem,
        )
        g.unsigned = True
    elif problem:
        current_app.logger.warning(
            "refused %r from %s: %s", request.path, request.remote_addr, problem
        )
        abort(401, "this webhook is not signed by Vonage")
    return None


def unsigned():
    """True for an answer webhook that failed the signature check (check_signature)."""
    return g.get("unsigned", False)


def owner_only():
    """With CONTROL_TOKEN set, the owner's routes need it: `?token=` or a Bearer header."""
    token = current_app.extensions["webhooks"].control_token
    if not token:
        return None
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    given = request.args.get("token") or (bearer if scheme.lower() == "bearer" else "")
    if hmac.compare_digest(given.encode(), token.encode()):
        return None
    current_app.logger.warning(
        "refused %s from %s: wrong or missing token", request.path, request.remote_addr
    )
    return jsonify(error="wrong or missing token: use the link printed at startup"), 401


def http_error(error):
    return jsonify(error=error.description), error.code


def protective_headers(response):
    # No browser guesses a type: JSON holding a caller's name is never run as HTML.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors, for old
        # The page's own URL holds ?token=...: it must not leave in a Referer header.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
