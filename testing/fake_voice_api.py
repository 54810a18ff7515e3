"""A fake Vonage Voice API over HTTPS on 127.0.0.1, checking requests as Vonage would."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

import jwt
from vonage_voice.models import TtsLanguageCode

from testing.tls import reply, serve_https

CALL_PATH = re.compile(r"/v1/calls/([^/]+)/(stream|talk)")
FILE_PATH = re.compile(r"/v1/files/([^/?]+)")
# The languages Vonage speaks, as the SDK lists them.
LANGUAGES = frozenset(code.value for code in TtsLanguageCode)


def stream_body_problem(body):
    """What is wrong with a PUT /stream body (the API's StartStreamRequest), or None.

    The 2021 OpenAPI file types `level` as a string; the SDK and today's API send a number.
    """
    if not isinstance(body, dict) or set(body) - {"stream_url", "loop", "level"}:
        return "unexpected fields"
    urls = body.get("stream_url")
    if not (
        isinstance(urls, list)
        and len(urls) == 1
        and isinstance(urls[0], str)
        and re.match(r"https?://", urls[0])
    ):
        return "stream_url must be a list of one http(s) URL"
    loop = body.get("loop", 1)
    if not isinstance(loop, int) or isinstance(loop, bool) or loop < 0:
        return "loop must be an integer >= 0"
    level = body.get("level", 0)
    if not isinstance(level, int | float) or isinstance(level, bool) or not -1 <= level <= 1:
        return "level must be a number from -1 to 1"
    return None


def talk_body_problem(body):
    """What is wrong with a PUT /talk body (the API's StartTalkRequest), or None."""
    fields = {"text", "language", "style", "voice_name", "premium", "loop", "level"}
    if not isinstance(body, dict) or set(body) - fields:
        return "unexpected fields"
    text = body.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= 1500:
        return "text must be a string of 1 to 1500 characters"
    if "language" in body and body["language"] not in LANGUAGES:
        return "language must be one Vonage speaks"
    return None


class FakeVoiceApi:
    """Answers PUT/DELETE /v1/calls/{uuid}/stream and /talk from a thread of this process
    until `stop()`.

    `host` is what VONAGE_API_HOST takes, `ca_file` what REQUESTS_CA_BUNDLE takes; `requests`
    records (method, uuid, body, problem) of every request but those to /talk, which `talks`
    records. Each answer waits `delay` seconds
    first (the real API's own latency). `fault` makes it misbehave: None (answer 200), an HTTP
    status to answer with, "slow" (answer after `slow_seconds`), or "hang" (never answer);
    `faults_for` limits a fault to some uuids.

    It also serves recordings as Vonage does, at GET /v1/files/{id} with the application's
    JWT: `files` maps an id to the bytes to answer with; `file_url(id)` is the recording_url a
    webhook names. Those requests are recorded as ("GET", id, None, problem), with the fault.
    """

    def __init__(self, folder, public_key, application_id, delay=0.0):
        self.public_key, self.application_id, self.delay = public_key, application_id, delay
        self.requests, self.talks = [], []
        self.files = {}
        self.fault, self.faults_for, self.slow_seconds = None, None, 5
        self._release = threading.Event()
        self._verified = set()  # tokens already checked: an RS256 check per request adds up
        self.server, self.host, self.ca_file = serve_https(folder, _handler_for(self))

    def file_url(self, file_id):
        return f"https://{self.host}/v1/files/{file_id}"

    def handle(self, request):
        file = FILE_PATH.fullmatch(request.path)
        if file and request.command == "GET":
            self.serve_file(request, file.group(1))
            return
        match = CALL_PATH.fullmatch(request.path)
        uuid = match.group(1) if match and request.command in ("PUT", "DELETE") else None
        talk = bool(match) and match.group(2) == "talk"
        raw = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        problem = self.auth_problem(request.headers.get("Authorization", ""))
        if problem is None and request.command == "PUT":
            problem = (talk_body_problem if talk else stream_body_problem)(body)
        (self.talks if talk else self.requests).append((request.command, uuid, body, problem))
        fault = self.fault if self.faults_for is None or uuid in self.faults_for else None
        if fault == "hang":
            self._release.wait(60)
            return
        if fault == "slow":
            self._release.wait(self.slow_seconds)
        time.sleep(self.delay)
        status = (
            401
            if problem == "bad token"
            else 400
            if problem
            else (fault if isinstance(fault, int) else 200 if uuid else 404)
        )
        what = "Talk" if talk else "Stream"
        message = f"{what} started" if request.command == "PUT" else f"{what} stopped"
        answer = {"message": message, "uuid": uuid} if status == 200 else {"title": str(status)}
        reply(request, status, json.dumps(answer).encode())

    def serve_file(self, request, file_id):
        """GET /v1/files/{id}: the recording's bytes; 401 without the application's JWT."""
        problem = self.auth_problem(request.headers.get("Authorization", ""))
        self.requests.append(("GET", file_id, None, problem))
        fault = self.fault if self.faults_for is None or file_id in self.faults_for else None
        if problem:
            status, data, kind = 401, b'{"title": "Unauthorized"}', "application/json"
        elif isinstance(fault, int):
            status, data, kind = fault, b'{"title": "fault"}', "application/json"
        elif file_id in self.files:
            status, data, kind = 200, self.files[file_id], "audio/mpeg"
        else:
            status, data, kind = 404, b'{"title": "Not Found"}', "application/json"
        reply(request, status, data, kind)

    def auth_problem(self, authorization):
        """Vonage checks the bearer JWT against the application's public key."""
        token = authorization.removeprefix("Bearer ")
        if token in self._verified:
            return None
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError:
            return "bad token"
        if claims.get("application_id") != self.application_id:
            return "bad token"
        self._verified.add(token)
        return None

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as Vonage does: the SDK's session reuses its connection between calls.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm on, the body waits for
        # the client's delayed ACK of the headers (40 ms on Linux), a latency Vonage lacks.
        disable_nagle_algorithm = True

        def do_PUT(self):
            api.handle(self)

        do_DELETE = do_GET = do_POST = do_PATCH = do_PUT

        def log_message(self, *args):
            pass  # `requests` is the record

    return Handler
