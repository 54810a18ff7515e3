"""Scenario 3's mailbox: the voice messages callers left, and the recordings still to download.

It lives in STATE_URL's store, beside the conference's state (one store, no second thing to
run), so it outlives the process and every process that shares the store sees the same
messages. A recording is first recorded as *pending* (its URL, who left it, when), then kept
with its audio once downloaded: a process that stops in between leaves the download for the
next one. Each backend (mailbox_sqlite.py, mailbox_redis.py) borrows the connection, timeouts
and errors of the conference store for the same URL: a store that is down raises StoreError.
"""

import abc
import secrets
from dataclasses import dataclass

from . import registry

MAX_MESSAGES = 100  # per mailbox: past this, the oldest message is dropped
# Per message. Vonage caps a recording at 7200 s; an MP3 voice message takes about 16 KB a
# second, so this holds the longest MAX_MESSAGE_SECONDS allows with room to spare.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class TooLarge(ValueError):
    """A recording bigger than the mailbox keeps."""


@dataclass(frozen=True)
class Pending:
    """A recording Vonage has made and we have not downloaded yet."""

    id: str
    url: str
    caller: str | None
    left_at: float
    duration: float | None
    attempts: int


@dataclass(frozen=True)
class Message:
    """A message kept with its audio (fetched apart, with `Mailbox.audio`)."""

    id: str
    caller: str | None
    left_at: float
    duration: float | None
    size: int


def new_id():
    """A message's id, in its public URL: 256 random bits, URL-safe, never guessed."""
    return secrets.token_urlsafe(32)


class Mailbox(abc.ABC):
    """The verbs scenario 3 speaks. `store` is the conference store for the same URL, whose
    connections, health check and memory of signed tokens the mailbox shares."""

    def __init__(self, store, max_messages=MAX_MESSAGES, max_bytes=MAX_MESSAGE_BYTES):
        self.store, self.max_messages, self.max_bytes = store, max_messages, max_bytes

    @abc.abstractmethod
    def expect(self, url, caller, left_at, duration):
        """Record a recording to download, due now; return its message id. The same `url`
        again (Vonage retrying its webhook) gets the same id and changes nothing."""

    @abc.abstractmethod
    def due(self, now, lease):
        """The pending recordings due by `now`, each claimed for `lease` seconds so that no
        other process downloads it meanwhile (a process that dies lets its claim lapse)."""

    @abc.abstractmethod
    def next_due(self):
        """When the soonest pending recording falls due (a Unix time), or None if none is
        pending: a process learns of the retries other processes scheduled."""

    @abc.abstractmethod
    def retry_at(self, message_id, when, attempts):
        """Try the download of `message_id` again at `when`, after `attempts` failures."""

    @abc.abstractmethod
    def give_up(self, message_id):
        """Forget a pending recording that cannot be downloaded."""

    @abc.abstractmethod
    def keep(self, message_id, audio):
        """Keep a pending recording's audio as a message; return the ids of the oldest
        messages dropped to stay within max_messages, or None if it was not pending (another
        process kept it). TooLarge if `audio` exceeds max_bytes."""

    @abc.abstractmethod
    def messages(self):
        """The messages kept, newest first."""

    @abc.abstractmethod
    def audio(self, message_id):
        """A message's audio, or None once it is deleted."""

    @abc.abstractmethod
    def delete(self, message_id):
        """Delete a message; True if there was one."""

    @abc.abstractmethod
    def delete_until(self, left_at):
        """Delete the messages left at or before `left_at`; return how many."""

    def _check_size(self, audio):
        if len(audio) > self.max_bytes:
            raise TooLarge(f"{len(audio)} bytes, over the {self.max_bytes} a message may take")

    def problem(self):
        """Why the store cannot be used right now, or None: for /healthz."""
        return self.store.problem()

    def close(self):
        self.store.close()


MAILBOXES = {}  # conference store class -> the mailbox class that borrows it


def serves(store_class):
    """Class decorator: this mailbox class borrows `store_class`'s connections."""

    def register(mailbox_class):
        MAILBOXES[store_class] = mailbox_class
        return mailbox_class

    return register


def open_mailbox(url, **caps):
    """The mailbox in a checked STATE_URL, checked to work: StoreError if it cannot be
    reached. The conference store's registry picks the backend from the URL's scheme."""
    from . import mailbox_redis, mailbox_sqlite  # noqa: F401 (they register themselves)

    store_class = registry.backend_for(url)
    store = store_class(url, "voicemail")
    try:
        return MAILBOXES[store_class](store, **caps)
    except BaseException:
        store.close()
        raise
