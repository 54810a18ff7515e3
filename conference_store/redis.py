"""A Redis (or Valkey) server: the store for several processes on several machines."""

import json
import math
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import base
from .base import ConferenceStore, StoreError, StoreRefused, masked

LUA = Path(__file__).resolve().parent / "lua"


class RedisStore(ConferenceStore):
    """A Redis (or Valkey) server, for several processes on several machines.

    Every change is a Lua script (lua/), which Redis runs atomically; reads are one script too,
    so the state is seen at one instant. Keys, per conference: legs (hash uuid -> leg as JSON),
    order (sorted set uuid -> since), meta (hash: started, streaming_on, music, follow_until,
    music_note). Each command gives up
    after OPERATION_TIMEOUT; a connection that broke (Redis restarted) is retried once on a new
    one, so the same process serves normally again as soon as Redis is back.
    """

    SCHEMES = ("redis", "rediss")
    FORM = "redis://[:password@]host:port/db or rediss:// (TLS) for a Redis server"
    # Each script, after the shared functions it calls (legs.lua).
    SCRIPTS = (
        ("legs", "join"),
        ("legs", "answered"),
        ("leave",),
        ("set_streaming",),
        ("ended",),
        ("state",),
        ("first_or_same",),
    )

    @classmethod
    def check_url(cls, raw):
        parts = urlsplit(raw)
        try:
            parts.port  # noqa: B018 (parses it: a bad port raises ValueError)
        except ValueError:
            raise ValueError(
                "the port must be a number, such as redis://localhost:6379/0"
            ) from None
        if not parts.hostname:
            raise ValueError("name the Redis host, such as redis://localhost:6379/0")
        if parts.path.strip("/") and not parts.path.strip("/").isdigit():
            raise ValueError("the database is a number, such as redis://localhost:6379/0")
        return raw

    @classmethod
    def describe(cls, url):
        return f"Redis at {masked(url)}"

    def __init__(self, url, conference, quorum=None):
        super().__init__(url, conference, quorum)
        self.client = self._client(url)
        prefix = f"vonage-audio-stream:{conference}:"
        self.keys = [prefix + "legs", prefix + "order", prefix + "meta"]
        self.tokens_prefix = "vonage-audio-stream:seen-token:"
        (
            self._join,
            self._answered,
            self._leave,
            self._set,
            self._ended,
            self._read,
            self._first,
        ) = (self._script(*names) for names in self.SCRIPTS)
        self._forget = self._script("forget")
        self._wait_for_startup()

    def _script(self, *names):
        """One script made of the .lua files `names`, in that order."""
        return self.client.register_script(
            "\n".join((LUA / f"{name}.lua").read_text() for name in names)
        )

    def _client(self, url):
        import redis  # only those who use Redis need the package's import time
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._errors = redis.RedisError
        self._timeout_errors = (redis.TimeoutError,)
        self._refusals = (redis.AuthenticationError, redis.ResponseError)
        return redis.Redis.from_url(
            url,
            socket_timeout=base.OPERATION_TIMEOUT,
            socket_connect_timeout=base.OPERATION_TIMEOUT,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            health_check_interval=30,
            decode_responses=True,
        )

    def _wait_for_startup(self):
        """Give a Redis that is still starting STARTUP_WAIT seconds; one that refuses us, none."""
        deadline = time.monotonic() + base.STARTUP_WAIT
        while True:
            try:
                self._check()
                return
            except StoreRefused:
                raise
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)

    def _run(self, command, *args, **kwargs):
        return self._attempt(self._call, command, args, kwargs)

    def _call(self, command, args, kwargs):
        try:
            return command(*args, **kwargs)
        except self._errors as error:
            raise self._error(error) from None

    def _error(self, error):
        text = str(error).rstrip(".") or type(error).__name__
        if isinstance(error, self._refusals):
            if "authenticated" in text or "NOAUTH" in text:  # no password given
                text = "it wants a password"
            return StoreRefused(
                f"the conference store at {self.where} refused us ({text}): put its password "
                "in STATE_URL, as redis://:PASSWORD@host:port/db"
            )
        if isinstance(error, self._timeout_errors):
            why = f"did not answer within {base.OPERATION_TIMEOUT} s"
        else:
            why = f"failed ({text})"
        return StoreError(
            f"the conference store at {self.where} {why}: check that Redis is running and "
            "reachable, and STATE_URL"
        )

    def joined(self, uuid, caller, host=None):
        now = time.time()
        leg = json.dumps({"uuid": uuid, "from": caller, "since": now, "host": host})
        args = [uuid, repr(now), repr(now - base.LEG_LIFETIME), leg, self.quorum or 0]
        return self._run(self._join, keys=self.keys, args=[*args, base.MAX_LEGS])

    def answered(self, uuid, caller, host=None):
        now = time.time()
        leg = json.dumps({"uuid": uuid, "from": caller, "since": now, "host": host})
        args = [uuid, repr(now), repr(now - base.LEG_LIFETIME), leg, base.MAX_LEGS]
        return bool(self._run(self._answered, keys=self.keys, args=args))

    def forget_legs(self):
        cutoff = repr(time.time() - base.LEG_LIFETIME)
        return self._run(self._forget, keys=self.keys, args=[cutoff])

    def left(self, uuid):
        self._run(self._leave, keys=self.keys, args=[uuid])

    def set_streaming(self, uuid, music=None, note=None):
        # Lua reads numbers as doubles, but not "inf": a time no call reaches stands for it.
        follow_until = min((music or {}).get("follow_until", 0), 1e300)
        music = json.dumps({**music, "follow_until": follow_until}) if music and uuid else ""
        args = [uuid or "", music, repr(follow_until), note or ""]
        self._run(self._set, keys=self.keys, args=args)

    def ended(self, uuid):
        now = time.time()
        args = [uuid, repr(now), repr(now - base.LEG_LIFETIME), base.ENDED_WITH_ITS_CALLER]
        moved = self._run(self._ended, keys=self.keys, args=args)
        if not moved:
            return None
        leg, music = (json.loads(value) for value in moved)
        if music["follow_until"] >= 1e300:
            music["follow_until"] = math.inf
        return leg, music

    def _state(self, now):
        legs, started, streaming_on, note = self._run(
            self._read, keys=self.keys, args=[repr(now - base.LEG_LIFETIME)]
        )
        return [json.loads(leg) for leg in legs if leg], started == "1", streaming_on, note

    def first_or_same(self, token, signed_request, max_age):
        key = self.tokens_prefix + token
        return bool(self._run(self._first, keys=[key], args=[signed_request, max_age]))

    def _check(self):
        self._call(self.client.ping, (), {})

    def close(self):
        self.client.close()
