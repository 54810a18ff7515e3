"""Where scenario 2 keeps what it knows of the conference, so that it outlives the process.

One URL (STATE_URL) picks the store: an SQLite file (the default, in Python's standard library:
nothing to install or start), or a Redis or Valkey server, shared by every process and machine
that serves the same number. The scenario speaks a few verbs: a caller joined (and how they
join), a caller left, the music plays on this leg, and what the state is. Every change is one
atomic step of the store itself (an SQLite write transaction, a Redis Lua script), so processes
that share a store behave as one server.

A store that is down or hangs raises StoreError, whose message names the store (never its
password) and what to check; the routes turn it into a clear status, and never drop a caller.

The contract and its errors are in base.py, one backend per module, and registry.py maps each
URL scheme to the backend that names it.
"""

from . import registry
from .base import (
    ENDED_WITH_ITS_CALLER,
    LEG_LIFETIME,
    MAX_LEGS,
    OPERATION_TIMEOUT,
    RETRY_AFTER,
    STARTUP_WAIT,
    ConferenceStore,
    StoreBusy,
    StoreError,
    StoreRefused,
    masked,
)
from .redis import RedisStore
from .sqlite import DEFAULT_URL, PROJECT_DIR, SqliteStore, sqlite_path


def check_url(raw):
    """The STATE_URL if the form is right, else ValueError saying what is allowed."""
    backend = registry.backend_for(raw)
    if backend is None:
        raise ValueError("give " + ", or ".join(registry.forms(DEFAULT_URL)))
    return backend.check_url(raw)


def describe(url):
    """Where the state of a checked STATE_URL lives, in words, without a password."""
    return registry.backend_for(url).describe(url)


def open_store(url, conference, quorum=None):
    """The store for a checked `url`, checked to work: StoreError if it cannot be reached."""
    return registry.backend_for(url)(url, conference, quorum)


__all__ = [
    "DEFAULT_URL",
    "ENDED_WITH_ITS_CALLER",
    "LEG_LIFETIME",
    "MAX_LEGS",
    "OPERATION_TIMEOUT",
    "PROJECT_DIR",
    "RETRY_AFTER",
    "STARTUP_WAIT",
    "ConferenceStore",
    "RedisStore",
    "SqliteStore",
    "StoreBusy",
    "StoreError",
    "StoreRefused",
    "check_url",
    "describe",
    "masked",
    "open_store",
    "sqlite_path",
]
