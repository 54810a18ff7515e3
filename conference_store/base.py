"""The contract every conference store keeps, its errors, and the pause after a failure."""

import abc
import time
from urllib.parse import urlsplit

from . import registry

# A leg whose hang-up event we missed is forgotten after the longest call Vonage allows: its
# Voice API caps a call at 7200 s (`length_timer` of POST /v1/calls and the NCCO `connect`
# action's `limit`, "maximum 7200": https://developer.vonage.com/en/api/voice#createCall),
# plus a margin for the events' delivery.
LEG_LIFETIME = 7200 + 600
# Far above any real conference; bounds the store if unsigned webhooks are flooded.
MAX_LEGS = 1000
# A webhook must answer fast even when the store hangs: each store operation gives up after
# this many seconds (Vonage drops a caller whose answer webhook takes 5 s).
OPERATION_TIMEOUT = 0.5
# After a failure, operations fail at once for this long instead of each waiting on a store that
# is down (8 threads waiting 0.5 s each would serve 16 webhooks a second); then one tries again.
RETRY_AFTER = 1.0
# At start-up, a store that is still starting (a Redis container beside ours) gets this long.
STARTUP_WAIT = 5
# What /status says when the music's leg ended and the music was not to follow (see `ended`).
ENDED_WITH_ITS_CALLER = "the music ended with the caller it played through"


class StoreError(Exception):
    """The store could not be reached, did not answer in time, or failed; says which and why."""


class StoreBusy(StoreError):
    """This process's own requests kept the store busy too long: it is not down."""


class StoreRefused(StoreError):
    """The store answered, and said no (a wrong password): trying again will not help."""


def masked(url):
    """The URL to show in logs and errors: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}***@{host}").geturl()


class ConferenceStore(abc.ABC):
    """What scenario 2 knows of one conference: its live legs (oldest first), the leg the music
    plays on, and its quorum round.

    A leg is {"uuid", "from", "since", "role", "host"}. A backend names the URL schemes it
    serves in SCHEMES (which registers it), and implements the abstract methods, each through
    `_attempt`; the reads are derived here from one consistent `_state`.
    """

    SCHEMES = ()
    # How the backend's URL is written, for the message that lists every form allowed.
    FORM = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        registry.register(cls)

    def __init__(self, url, conference, quorum=None):
        self.url, self.conference, self.quorum = url, conference, quorum
        self.where = masked(url)
        self._down_until, self._failure = 0.0, None

    @classmethod
    @abc.abstractmethod
    def check_url(cls, raw):
        """`raw` if it is a right URL for this backend, else ValueError saying what is allowed."""

    @classmethod
    @abc.abstractmethod
    def describe(cls, url):
        """Where the state of `url` lives, in words for the banner, without a password."""

    def _attempt(self, operation, *args):
        """Run one operation on the store. After a failure, fail at once for RETRY_AFTER
        seconds rather than make every webhook wait for a store that is down."""
        if time.monotonic() < self._down_until:
            raise StoreError(self._failure)
        try:
            return operation(*args)
        except StoreBusy:
            raise
        except StoreError as error:
            self._down_until, self._failure = time.monotonic() + RETRY_AFTER, str(error)
            raise

    @abc.abstractmethod
    def joined(self, uuid, caller, host=None):
        """Record a new leg and return how it joins: "join", "wait" or "start".

        A retried answer webhook (the same uuid) gets the role it got the first time.
        """

    @abc.abstractmethod
    def answered(self, uuid, caller, host=None):
        """Record a leg the store does not know, from its `answered` event, as a plain "join"
        leg; change nothing if it knows it. True if it recorded the leg, False if not.

        Vonage sends `answered` once it has the call's NCCO, so after the answer webhook,
        whose write this makes up for if it was lost (the store was down). Such a leg never
        takes a quorum role and never starts the round, though it counts towards it; like
        every leg, it is bounded by MAX_LEGS, and recording it forgets the expired legs.
        """

    @abc.abstractmethod
    def left(self, uuid):
        """Forget a leg; once every leg has gone, the next caller starts a new round."""

    @abc.abstractmethod
    def set_streaming(self, uuid, music=None, note=None):
        """The music now plays on leg `uuid` (if it is still live), or nowhere (None).

        `music` is what plays, as a dict the store keeps for `ended` (JSON-able), with
        "follow_until": the time.time() until which it follows the conference (0: never,
        math.inf: always). `note` is why it plays nowhere, for /status; a new `uuid` clears it.
        """

    @abc.abstractmethod
    def ended(self, uuid):
        """Forget a leg that has ended, as `left` does, and if the music played on it while
        now < its "follow_until", move the music to the newest live leg in the same atomic
        step: return (that leg, the music) to this caller, and to no other (a second delivery
        of the event, another process) who get None. If the music played on it and is not to
        follow, it plays nowhere, noted ENDED_WITH_ITS_CALLER while others are still in.
        """

    @abc.abstractmethod
    def _state(self, now):
        """(live legs oldest first, has the round started, uuid the music plays on, why it
        plays nowhere or None), read at once, without the legs older than LEG_LIFETIME."""

    @abc.abstractmethod
    def first_or_same(self, token, signed_request, max_age):
        """True if the signed webhook token `token` is new, or was seen in the last `max_age`
        seconds for this very request (Vonage retrying it); False if it signed another."""

    def problem(self):
        """Why the store cannot be used right now, or None: for /healthz. It always asks the
        store itself, and its success ends a RETRY_AFTER pause at once."""
        try:
            self._check()
        except StoreError as error:
            return str(error)
        self._down_until = 0.0
        return None

    @abc.abstractmethod
    def forget_legs(self):
        """Forget every leg of this conference, where the music plays and the quorum round;
        return how many live legs it forgot. For legs left over from an earlier run (fake
        legs of a walkthrough, a crash) that would otherwise stay for LEG_LIFETIME."""

    def leftovers(self):
        """(how many live legs the store holds, the oldest one's `since` or None): at
        start-up, the legs left over from an earlier run."""
        legs, *_ = self._state(time.time())
        return len(legs), (legs[0]["since"] if legs else None)

    @abc.abstractmethod
    def _check(self):
        """Raise StoreError unless the store answers now."""

    @abc.abstractmethod
    def close(self):
        """Let go of connections (before a fork, at the end of a test)."""

    def stream_candidates(self):
        """The live legs to play music through: the leg the music already plays on first (so a
        second Play restarts it there, where Stop reaches it), then the newest."""
        legs, _, streaming_on, _ = self._state(time.time())
        return sorted(reversed(legs), key=lambda leg: leg["uuid"] != streaming_on)

    def waiting_for_quorum(self):
        legs, started, *_ = self._state(time.time())
        return self._waiting(legs, started)

    def streaming_leg(self):
        """The leg the music plays on, or None."""
        legs, _, streaming_on, _ = self._state(time.time())
        return next((leg for leg in legs if leg["uuid"] == streaming_on), None)

    def snapshot(self):
        """The state as /status shows it, read at once."""
        legs, started, streaming_on, note = self._state(time.time())
        if not any(leg["uuid"] == streaming_on for leg in legs):
            streaming_on = None  # its leg has expired
        return {
            "legs": [{k: leg[k] for k in ("uuid", "from", "since", "role")} for leg in legs],
            "streaming_on": streaming_on,
            "music_note": None if streaming_on else note,
            "quorum": self.quorum,
            "waiting_for_quorum": self._waiting(legs, started),
        }

    def _waiting(self, legs, started):
        return self.quorum is not None and not started and bool(legs)

    def _role(self, live, started):
        """How the next caller joins when `live` legs are in and the round has `started`."""
        if self.quorum is None or started:
            return "join"
        return "start" if live + 1 >= self.quorum else "wait"
