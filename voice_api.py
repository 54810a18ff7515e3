"""Scenario 2's Voice API clients: one per API host, with a timeout, and failures in plain words."""

import re
import threading
import time

import requests
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import (
    AuthenticationError,
    ForbiddenError,
    HttpRequestError,
    RateLimitedError,
)

# The SDK waits forever by default. Each attempt gets API_TIMEOUT seconds, and the SDK's own
# urllib3 Retry repeats timed-out and dropped PUT/DELETE requests API_RETRIES more times with
# a 0.2 s backoff, so one call takes at most WORST_CALL seconds.
API_TIMEOUT = 4
API_RETRIES = 2
WORST_CALL = (API_RETRIES + 1) * API_TIMEOUT + 0.5
DEFAULT_HOST = HttpClientOptions().api_host  # the SDK's, api.nexmo.com


class ReusedJwtAuth(Auth):
    """The SDK's Auth, but reusing each JWT for 10 of the 15 minutes it is valid.

    The SDK signs a new JWT for every request, parsing the PEM key each time: about 40 ms of
    CPU per call. A token may be used until it expires, as Vonage's own CLI does
    (https://developer.vonage.com/en/vonage-cli/guides/authentication-security/jwt).
    """

    REUSE_SECONDS = 10 * 60  # the SDK's tokens expire 15 minutes after they are made

    def __init__(self, **credentials):
        super().__init__(**credentials)
        self._token_lock = threading.Lock()
        self._token = None
        self._made_at = 0.0

    def create_jwt_auth_string(self):
        with self._token_lock:
            if self._token is None or time.monotonic() - self._made_at > self.REUSE_SECONDS:
                self._token = super().create_jwt_auth_string()
                self._made_at = time.monotonic()
            return self._token


class Clients:
    """One SDK client per Voice API host, made on first use and reused, sharing one Auth.

    A call lives in one region and is best controlled there: the answer webhook's
    `region_url` names the host. VONAGE_API_HOST, when set, wins for every call.
    """

    def __init__(self, settings):
        self._fixed_host = settings.api_host
        self._auth = ReusedJwtAuth(
            application_id=settings.application_id, private_key=settings.private_key
        )
        self._by_host = {}
        self._lock = threading.Lock()

    def voice(self, region_host=None):
        """The Voice API client for a call in `region_host` (None: the default host)."""
        host = self._fixed_host or region_host or DEFAULT_HOST
        with self._lock:
            if host not in self._by_host:
                options = HttpClientOptions(
                    api_host=host, timeout=API_TIMEOUT, max_retries=API_RETRIES
                )
                self._by_host[host] = Vonage(self._auth, options).voice
            return self._by_host[host]


def explain(error, api_host, doing="start"):
    """Turn a failed Voice API call into the status and message the browser shows.

    `doing` is what the call was for: "start" or "stop" the music.
    """
    if isinstance(error, AuthenticationError):
        return 502, (
            "Vonage refused the credentials (401): VONAGE_APPLICATION_ID and the private key "
            "do not match; check both belong to the same application"
        )
    if isinstance(error, ForbiddenError):
        return 502, "Vonage refused the request (403): check the application has Voice enabled"
    if isinstance(error, RateLimitedError):
        return 502, "Vonage is rate limiting this account (429): wait a few seconds, try again"
    if isinstance(error, HttpRequestError):
        status = error.response.status_code
        return 502, f"the Voice API failed ({status}): try again in a moment"
    if _timed_out(error):
        return 504, (
            f"the Voice API at {api_host} did not answer in time: try again; the music may "
            f"still {doing} if Vonage got the request late"
        )
    if isinstance(error, requests.RequestException):
        return 502, (
            f"could not reach the Voice API at {api_host} ({_root_cause(error)}): check the "
            "network, and VONAGE_API_HOST if you set it"
        )
    return 502, f"the request to the Voice API failed: {error}"


def _root_cause(error):
    """The innermost reason a request failed, in a few words (e.g. "Connection refused")."""
    while True:
        wrapped = error.args[0] if error.args and isinstance(error.args[0], Exception) else None
        inner = getattr(error, "reason", None) or wrapped or error.__context__
        if not isinstance(inner, Exception):
            break
        error = inner
    words = re.sub(r"^\[Errno -?\d+\] ", "", str(error).rsplit(": ", 1)[-1]).strip("'\")")
    return words[:80] or type(error).__name__


def _timed_out(error):
    """True for a timeout, including one the SDK's retries wrapped in a ConnectionError."""
    if isinstance(error, requests.Timeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    # urllib3 files "could not connect" (DNS, refused) under its timeout errors too.
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)
