"""A fake Vonage Application API (v2) and Numbers API over HTTPS on 127.0.0.1, one server for both.

It checks what the real APIs check and answers in their shapes, from Vonage's specifications
(application-api.yml 2.1.0: createApplication, getApplication, updateApplication; numbers-api.yml:
getOwnedNumbers, updateANumber) and the SDK's own test data (vonage-python-sdk
application/tests/data/create_application_basic.json and get_application.json):

- Basic auth with the account's key and secret on every request, else 401 (the Numbers API
  answers `{"error-code": "401", "error-code-label": "authentication failed"}`).
- POST /v2/applications and PUT /v2/applications/{id}: a JSON body with `name` (required), any
  webhook `http_method` GET or POST, else 400 with `invalid_parameters`. Create answers 201 with
  the application and `keys.private_key` (the only time Vonage gives the private key); PUT
  replaces the whole document.
- GET /v2/applications/{id}: the whole document as stored, with `_links`; 404 if not this
  account's.
- GET /account/numbers?index=&size=: `{"count": n, "numbers": [...]}` (just `{"count": 0}` when
  there are none), each number with `voiceCallbackType`/`voiceCallbackValue` and `app_id` when
  linked.
- POST /number/update: a form (`application/x-www-form-urlencoded`) with `country` and `msisdn`
  of an owned number and `app_id` of an application of this account; answers 200 with
  `error-code` "200", or "420" when a parameter is wrong.

`busy` holds statuses (429, 503...) to answer the next requests with, one each (None: answer
normally); `hang` makes
it accept requests and never answer, as a hung network does.
"""

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from testing.tls import reply, serve_https

APPLICATION = re.compile(r"/v2/applications/([^/]+)")


@dataclass
class Request:
    method: str
    path: str  # without the query
    query: dict  # name: [values]
    content_type: str
    body: object  # JSON for the Application API, the form (name: value) for /number/update
    authorization: str


class FakeAccountApi:
    """The fake, serving from a thread of this process until `stop()`.

    `host` is what VONAGE_SETUP_API_HOST and VONAGE_SETUP_REST_HOST take, `ca_file` what
    REQUESTS_CA_BUNDLE takes; `applications` (id: document) and `numbers` are the account.
    """

    def __init__(self, folder, api_key, api_secret):
        credentials = base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        self.authorization = f"Basic {credentials}"
        self.applications, self.numbers, self.requests = {}, [], []
        self.private_keys = []  # every private key handed out on create, as PEM text
        self.busy, self.hang = [], False
        # A create answer the SDK cannot read, its private key where a message would show it.
        self.malformed = False
        self._release = threading.Event()
        self._lock = threading.Lock()
        self.server, self.host, self.ca_file = serve_https(folder, _handler_for(self))

    def add_application(self, document):
        """Store an application as Vonage holds it; return its id."""
        application_id = document.get("id") or str(uuid.uuid4())
        self.applications[application_id] = {
            **document,
            "id": application_id,
            "_links": {"self": {"href": f"/v2/applications/{application_id}"}},
        }
        return application_id

    def add_number(self, msisdn, app_id=None, country="GB", features=("VOICE", "SMS")):
        number = {
            "country": country,
            "msisdn": msisdn,
            "type": "mobile-lvn",
            "features": list(features),
        }
        self.numbers.append(number)
        if app_id:
            _link(number, app_id)
        return number

    def changes(self):
        """The requests that could change something: every one but a GET."""
        return [r for r in self.requests if r.method != "GET"]

    def stop(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request):
        """(status, JSON payload) for one request, after recording it."""
        if self.hang:
            self._release.wait(60)
            return None
        status = self.busy.pop(0) if self.busy else None
        if status:
            return status, {"title": "Too Many Requests" if status == 429 else "Server Error"}
        numbers_api = request.path.startswith(("/account/", "/number/"))
        if request.authorization != self.authorization:
            if numbers_api:
                return 401, {"error-code": "401", "error-code-label": "authentication failed"}
            return 401, {
                "type": "https://developer.nexmo.com/api-errors#unauthorized",
                "title": "Invalid credentials supplied",
                "detail": "You did not provide correct credentials.",
            }
        match = APPLICATION.fullmatch(request.path)
        if request.method == "GET" and match:
            document = self.applications.get(match[1])
            return (200, document) if document else _not_found(request.path)
        if request.method == "POST" and request.path == "/v2/applications":
            return self.create(request)
        if request.method == "PUT" and match:
            return self.update(match[1], request)
        if request.method == "GET" and request.path == "/account/numbers":
            return self.list_numbers(request.query)
        if request.method == "POST" and request.path == "/number/update":
            return self.update_number(request)
        return _not_found(request.path)

    def create(self, request):
        problem = _application_problem(request)
        if problem:
            return problem
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        public = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        self.private_keys.append(private)
        body = request.body
        application_id = self.add_application(
            {
                "name": body["name"],
                "keys": {"public_key": public},
                "privacy": {"improve_ai": False},
                "capabilities": body.get("capabilities") or {},
            }
        )
        stored = self.applications[application_id]
        if self.malformed:
            return 201, {**stored, "keys": private}
        return 201, {**stored, "keys": {**stored["keys"], "private_key": private}}

    def update(self, application_id, request):
        if application_id not in self.applications:
            return _not_found(request.path)
        problem = _application_problem(request)
        if problem:
            return problem
        kept_keys = self.applications[application_id].get("keys")
        self.add_application({"keys": kept_keys, **request.body, "id": application_id})
        return 200, self.applications[application_id]

    def list_numbers(self, query):
        size = int(query.get("size", ["10"])[0])
        index = int(query.get("index", ["1"])[0])
        page = self.numbers[(index - 1) * size : index * size]
        if not self.numbers:
            return 200, {"count": 0}
        return 200, {"count": len(self.numbers), "numbers": page}

    def update_number(self, request):
        if not request.content_type.startswith("application/x-www-form-urlencoded"):
            return 415, {"error-code": "415", "error-code-label": "unsupported content type"}
        form = request.body
        number = next(
            (
                n
                for n in self.numbers
                if n["msisdn"] == form.get("msisdn") and n["country"] == form.get("country")
            ),
            None,
        )
        app_id = form.get("app_id")
        if number is None or (app_id and app_id not in self.applications):
            return 200, {"error-code": "420", "error-code-label": "Parameter error"}
        if app_id:
            _link(number, app_id)
        return 200, {"error-code": "200", "error-code-label": "success"}


def _link(number, app_id):
    number.update(app_id=app_id, voiceCallbackType="app", voiceCallbackValue=app_id)


def _not_found(path):
    return 404, {
        "type": "https://developer.nexmo.com/api-errors#not-found",
        "title": "Not found.",
        "detail": f"The requested resource does not exist, or you do not have access to it. {path}",
    }


def _application_problem(request):
    """A 400 answer for a create or update body the Application API refuses, or None."""
    if not request.content_type.startswith("application/json"):
        return 415, {"title": "Unsupported Media Type"}
    body = request.body
    invalid = []
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        invalid.append({"name": "name", "reason": "is required"})
    else:
        for capability, settings in (body.get("capabilities") or {}).items():
            for hook, url in ((settings or {}).get("webhooks") or {}).items():
                if url.get("http_method") not in (None, "GET", "POST"):
                    invalid.append(
                        {
                            "name": f"capabilities.{capability}.webhooks.{hook}.http_method",
                            "reason": "must be one of: GET, POST",
                        }
                    )
    if invalid:
        return 400, {
            "type": "https://developer.nexmo.com/api-errors/application#payload-validation",
            "title": "Bad Request",
            "detail": "The request failed due to validation errors",
            "invalid_parameters": invalid,
        }
    return None


def _handler_for(api):
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self):
            parts = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            content_type = self.headers.get("Content-Type") or ""
            if content_type.startswith("application/x-www-form-urlencoded"):
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                content_type,
                body,
                self.headers.get("Authorization") or "",
            )
            with api._lock:
                api.requests.append(request)
            answer = api.answer(request)
            if answer is None:  # hung: the client gives up first
                return
            status, payload = answer
            reply(self, status, json.dumps(payload).encode())

        do_GET = do_POST = do_PUT = do_DELETE = handle_one

        def log_message(self, *args):
            pass

    return Handler
