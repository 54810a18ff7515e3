"""Where scenario 2 keeps what it knows of the conference, so that it outlives the process.

One URL (STATE_URL) picks the store: an SQLite file (the default, in Python's standard library:
nothing to install or start), or a Redis or Valkey server, shared by every process and machine
that serves the same number. The scenario speaks a few verbs: a caller joined (and how they
join), a caller left, the music plays on this leg, and what the state is. Every change is one
atomic step of the store itself (an SQLite write transaction, a Redis Lua script), so processes
that share a store behave as one server.

A store that is down or hangs raises StoreError, whose message names the store (never its
password) and what to check; the routes turn it into a clear status, and never drop a caller.
"""

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_DIR = Path(__file__).resolve().parent
DEFAULT_URL = "sqlite:///conference.sqlite3"

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


class StoreError(Exception):
    """The store could not be reached, did not answer in time, or failed; says which and why."""


class StoreBusy(StoreError):
    """This process's own requests kept the store busy too long: it is not down."""


class StoreRefused(StoreError):
    """The store answered, and said no (a wrong password): trying again will not help."""


def check_url(raw):
    """The STATE_URL if the form is right, else ValueError saying what is allowed."""
    parts = urlsplit(raw)
    if parts.scheme == "sqlite":
        if not raw.startswith("sqlite:///") or raw.rstrip("/") == "sqlite:":
            raise ValueError(
                "give sqlite:///conference.sqlite3 (a file in the project folder), "
                "sqlite:////absolute/path.sqlite3, or redis://host:6379/0"
            )
        return raw
    if parts.scheme in ("redis", "rediss"):
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
    raise ValueError(
        "give sqlite:///conference.sqlite3 (the default: a file), or "
        "redis://[:password@]host:port/db or rediss:// (TLS) for a Redis server"
    )


def masked(url):
    """The URL to show in logs and errors: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{user}***@{host}").geturl()


def sqlite_path(url):
    """The database file of an sqlite:/// URL: relative paths are from the project folder."""
    path = Path(url[len("sqlite:///") :]).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


def open_store(url, conference, quorum=None):
    """The store for `url`, checked to work: StoreError if it cannot be reached."""
    backend = {"sqlite": SqliteStore, "redis": RedisStore, "rediss": RedisStore}
    return backend[urlsplit(url).scheme](url, conference, quorum)


class ConferenceStore:
    """What scenario 2 knows of one conference: its live legs (oldest first), the leg the music
    plays on, and its quorum round.

    A leg is {"uuid", "from", "since", "role", "host"}. A backend implements `joined`, `left`,
    `set_streaming`, `first_or_same`, `_state` and `_check`, each through `_attempt`; the reads
    are derived here from one consistent `_state`.
    """

    def __init__(self, url, conference, quorum=None):
        self.url, self.conference, self.quorum = url, conference, quorum
        self.where = masked(url)
        self._down_until, self._failure = 0.0, None

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

    def joined(self, uuid, caller, host=None):
        """Record a new leg and return how it joins: "join", "wait" or "start".

        A retried answer webhook (the same uuid) gets the role it got the first time.
        """
        raise NotImplementedError

    def left(self, uuid):
        """Forget a leg; once every leg has gone, the next caller starts a new round."""
        raise NotImplementedError

    def set_streaming(self, uuid):
        """The music now plays on leg `uuid` (if it is still live), or nowhere (None)."""
        raise NotImplementedError

    def _state(self, now):
        """(live legs oldest first, has the round started, uuid the music plays on), read at
        once, without the legs older than LEG_LIFETIME."""
        raise NotImplementedError

    def first_or_same(self, token, signed_request, max_age):
        """True if the signed webhook token `token` is new, or was seen in the last `max_age`
        seconds for this very request (Vonage retrying it); False if it signed another."""
        raise NotImplementedError

    def problem(self):
        """Why the store cannot be used right now, or None: for /healthz. It always asks the
        store itself, and its success ends a RETRY_AFTER pause at once."""
        try:
            self._check()
        except StoreError as error:
            return str(error)
        self._down_until = 0.0
        return None

    def _check(self):
        raise NotImplementedError

    def close(self):
        """Let go of connections (before a fork, at the end of a test)."""

    def stream_candidates(self):
        """The live legs to play music through: the leg the music already plays on first (so a
        second Play restarts it there, where Stop reaches it), then the newest."""
        legs, _, streaming_on = self._state(time.time())
        return sorted(reversed(legs), key=lambda leg: leg["uuid"] != streaming_on)

    def waiting_for_quorum(self):
        legs, started, _ = self._state(time.time())
        return self._waiting(legs, started)

    def streaming_leg(self):
        """The leg the music plays on, or None."""
        legs, _, streaming_on = self._state(time.time())
        return next((leg for leg in legs if leg["uuid"] == streaming_on), None)

    def snapshot(self):
        """The state as /status shows it, read at once."""
        legs, started, streaming_on = self._state(time.time())
        if not any(leg["uuid"] == streaming_on for leg in legs):
            streaming_on = None  # its leg has expired
        return {
            "legs": [{k: leg[k] for k in ("uuid", "from", "since", "role")} for leg in legs],
            "streaming_on": streaming_on,
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


class SqliteStore(ConferenceStore):
    """An SQLite file: every change in one `BEGIN IMMEDIATE` transaction, which other
    processes wait for, so a quorum is counted exactly across processes.

    WAL mode with `synchronous=NORMAL`: a committed leg survives the process being killed
    (`kill -9`); only a power cut can lose the last moments (https://sqlite.org/wal.html).
    A few connections are kept for reads, never shared by two threads at once; each process
    writes through one connection of its own, one thread at a time. None is carried across a
    fork (Gunicorn builds the app before forking its workers).
    """

    SCHEMA = """
        CREATE TABLE IF NOT EXISTS legs (
            conference TEXT NOT NULL,
            uuid TEXT NOT NULL,
            caller TEXT,
            since REAL NOT NULL,
            role TEXT NOT NULL,
            host TEXT,
            PRIMARY KEY (conference, uuid)
        );
        -- Each answer forgets legs past LEG_LIFETIME and, at MAX_LEGS, the oldest one: with
        -- this index each is a seek, not a scan and sort of every live leg (bench/).
        CREATE INDEX IF NOT EXISTS legs_by_age ON legs (conference, since);
        CREATE TABLE IF NOT EXISTS conferences (
            name TEXT PRIMARY KEY,
            started INTEGER NOT NULL DEFAULT 0,
            streaming_on TEXT
        );
        -- How many legs each conference has, kept by SQLite on every insert and delete, so
        -- that an answer reads one number instead of counting up to MAX_LEGS legs (bench/).
        CREATE TABLE IF NOT EXISTS leg_counts (
            conference TEXT PRIMARY KEY,
            live INTEGER NOT NULL
        );
        CREATE TRIGGER IF NOT EXISTS leg_added AFTER INSERT ON legs BEGIN
            INSERT INTO leg_counts VALUES (NEW.conference, 1)
            ON CONFLICT (conference) DO UPDATE SET live = live + 1;
        END;
        CREATE TRIGGER IF NOT EXISTS leg_removed AFTER DELETE ON legs BEGIN
            UPDATE leg_counts SET live = live - 1 WHERE conference = OLD.conference;
        END;
        CREATE TABLE IF NOT EXISTS seen_tokens (
            token TEXT PRIMARY KEY,
            signed_request BLOB NOT NULL,
            seen REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS seen_tokens_by_age ON seen_tokens (seen);
    """
    # At each start, under the write lock: the counts from the legs themselves (a file from
    # before leg_counts has legs and no counts); from then on the triggers keep them.
    RECOUNT = """
        DELETE FROM leg_counts;
        INSERT INTO leg_counts SELECT conference, count(*) FROM legs GROUP BY conference;
    """
    KEEP_CONNECTIONS = 16

    def __init__(self, url, conference, quorum=None):
        super().__init__(url, conference, quorum)
        self.path = sqlite_path(url)
        self.where = f"{self.where} ({self.path})"
        self._idle, self._pid = [], os.getpid()
        self._writing, self._writer = threading.Lock(), None
        try:
            with self._connection() as db:
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(f"BEGIN IMMEDIATE; {self.SCHEMA} {self.RECOUNT} COMMIT;")
                except sqlite3.Error as error:
                    raise self._error(error) from None
        finally:
            self.close()

    def _connect(self):
        try:
            db = sqlite3.connect(
                self.path, timeout=OPERATION_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as error:
            raise self._error(error) from None
        return db

    def _connection(self):
        return _Borrowed(self)

    def _error(self, error):
        text = str(error)
        if "unable to open" in text:
            what = "check that its folder exists and this user may write there"
        elif "locked" in text or "busy" in text:
            what = f"another process held it for over {OPERATION_TIMEOUT} s; try again"
        elif "readonly" in text:
            what = "this user may not write to it or its folder"
        else:
            what = "check the file and the disk"
        return StoreError(f"the conference store {self.where} failed ({text}): {what}")

    def _write(self, work):
        """`work(db)` in one write transaction, which other processes wait for."""
        return self._attempt(self._serialised, work)

    def _serialised(self, work):
        """`work(db)` in one write transaction; StoreError if it cannot within
        OPERATION_TIMEOUT.

        This process's threads write one at a time, through its one write connection: a
        thread waits on a lock, which hands over at once, instead of each polling SQLite's
        lock (under load, SQLite's busy handler left some waiting past the timeout while
        others wrote, and their callers joined unrecorded: bench/).
        """
        deadline = time.monotonic() + OPERATION_TIMEOUT
        self._in_this_process()
        writing = self._writing
        if not writing.acquire(timeout=OPERATION_TIMEOUT):
            raise StoreBusy(
                f"the conference store {self.where} is busy: this process waited over "
                f"{OPERATION_TIMEOUT} s for its turn to write; try again"
            )
        try:
            if self._writer is None:
                self._writer = self._connect()
                self._writer.execute("PRAGMA busy_timeout = 0")  # _begin_immediate waits
            db = self._writer
            try:
                self._begin_immediate(db, deadline)
                try:
                    result = work(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
                return result
            except sqlite3.Error as error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise self._error(error) from None
            finally:
                if db.in_transaction:  # could not even roll back: start afresh next time
                    self._writer = None
                    db.close()
        finally:
            writing.release()

    @staticmethod
    def _begin_immediate(db, deadline):
        """BEGIN IMMEDIATE, tried again every 0.1 to 1 ms while another process holds the
        write lock, until `deadline`. SQLite's own busy handler sleeps 1, 2, 5, 10 and up to
        100 ms between tries, so a writer could keep missing the moments the lock was free."""
        pause = 0.0001
        while True:
            try:
                db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(2 * pause, 0.001)

    def _read(self, work):
        """`work(db)` in one read transaction, on a pooled connection: one consistent view of
        every table (in WAL mode, reads never wait for writes)."""
        return self._attempt(self._reading, work)

    def _reading(self, work):
        with self._connection() as db:
            try:
                db.execute("BEGIN")
                try:
                    return work(db)
                finally:
                    db.execute("COMMIT")
            except sqlite3.Error as error:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise self._error(error) from None

    def joined(self, uuid, caller, host=None):
        now = time.time()

        def join(db):
            known = db.execute(
                "SELECT role FROM legs WHERE conference = ? AND uuid = ?", (self.conference, uuid)
            ).fetchone()
            if known:
                return known[0]
            db.execute(
                "DELETE FROM legs WHERE conference = ? AND since < ?",
                (self.conference, now - LEG_LIFETIME),
            )
            row = db.execute(
                "SELECT live FROM leg_counts WHERE conference = ?", (self.conference,)
            ).fetchone()
            live = row[0] if row else 0
            row = db.execute(
                "SELECT started FROM conferences WHERE name = ?", (self.conference,)
            ).fetchone()
            started = bool(row and row[0]) and live > 0
            role = self._role(live, started)
            db.execute(
                "INSERT INTO legs (conference, uuid, caller, since, role, host)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (self.conference, uuid, caller, now, role, host),
            )
            db.execute(
                "INSERT INTO conferences (name, started) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET started = excluded.started",
                (self.conference, int(started or role == "start")),
            )
            if live + 1 > MAX_LEGS:
                db.execute(
                    "DELETE FROM legs WHERE conference = ? AND uuid = (SELECT uuid FROM legs"
                    " WHERE conference = ? ORDER BY since, rowid LIMIT 1)",
                    (self.conference, self.conference),
                )
            return role

        return self._write(join)

    def left(self, uuid):
        def leave(db):
            db.execute(
                "DELETE FROM legs WHERE conference = ? AND uuid = ?", (self.conference, uuid)
            )
            db.execute(
                "UPDATE conferences SET streaming_on = NULL WHERE name = ? AND streaming_on = ?",
                (self.conference, uuid),
            )
            db.execute(
                "UPDATE conferences SET started = 0 WHERE name = ? AND NOT EXISTS"
                " (SELECT 1 FROM legs WHERE conference = ?)",
                (self.conference, self.conference),
            )

        self._write(leave)

    def set_streaming(self, uuid):
        def record(db):
            db.execute(
                "INSERT INTO conferences (name, streaming_on)"
                " SELECT ?, ? WHERE ? IS NULL OR EXISTS"
                " (SELECT 1 FROM legs WHERE conference = ? AND uuid = ?)"
                " ON CONFLICT (name) DO UPDATE SET streaming_on = excluded.streaming_on",
                (self.conference, uuid, uuid, self.conference, uuid),
            )

        self._write(record)

    def _state(self, now):
        def read(db):
            rows = db.execute(
                "SELECT uuid, caller, since, role, host FROM legs"
                " WHERE conference = ? AND since >= ? ORDER BY since, rowid",
                (self.conference, now - LEG_LIFETIME),
            ).fetchall()
            row = db.execute(
                "SELECT started, streaming_on FROM conferences WHERE name = ?", (self.conference,)
            ).fetchone()
            return rows, row

        rows, row = self._read(read)
        legs = [dict(zip(("uuid", "from", "since", "role", "host"), r, strict=True)) for r in rows]
        started, streaming_on = row if row else (0, None)
        return legs, bool(started), streaming_on

    def first_or_same(self, token, signed_request, max_age):
        now = time.time()

        def check(db):
            db.execute("DELETE FROM seen_tokens WHERE seen < ?", (now - max_age,))
            seen = db.execute(
                "SELECT signed_request FROM seen_tokens WHERE token = ?", (token,)
            ).fetchone()
            if seen:
                return seen[0] == signed_request
            db.execute("INSERT INTO seen_tokens VALUES (?, ?, ?)", (token, signed_request, now))
            return True

        return self._write(check)

    def _check(self):
        # Takes and frees the write lock: can we write now?
        self._serialised(lambda db: None)

    def _in_this_process(self):
        if self._pid != os.getpid():  # forked: the parent's connections are not ours to use
            self._idle, self._pid = [], os.getpid()
            self._writing, self._writer = threading.Lock(), None

    def close(self):
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        idle, self._idle = self._idle, []
        for db in idle:
            db.close()


class _Borrowed:
    """`with store._connection() as db:` one idle connection (or a new one), given back after."""

    def __init__(self, store):
        self.store = store

    def __enter__(self):
        store = self.store
        store._in_this_process()
        try:
            self.db = store._idle.pop()  # list.pop is atomic: no two threads get the same one
        except IndexError:
            self.db = store._connect()
        return self.db

    def __exit__(self, *exc):
        store = self.store
        if len(store._idle) < store.KEEP_CONNECTIONS and not self.db.in_transaction:
            store._idle.append(self.db)
        else:
            self.db.close()


# Redis: each change is one Lua script, which Redis runs atomically (_JOIN counts roles as
# ConferenceStore._role does, inside Redis). Keys, per conference:
# legs (hash uuid -> leg as JSON), order (sorted set uuid -> since), meta (hash: started,
# streaming_on).
_JOIN = """
local known = redis.call('HGET', KEYS[1], ARGV[1])
if known then return cjson.decode(known)['role'] end
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
for _, uuid in ipairs(expired) do redis.call('HDEL', KEYS[1], uuid) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local live = redis.call('ZCARD', KEYS[2])
if live == 0 then redis.call('HDEL', KEYS[3], 'started') end
local quorum = tonumber(ARGV[5])
local role = 'join'
if quorum > 0 and redis.call('HGET', KEYS[3], 'started') ~= '1' then
  if live + 1 >= quorum then
    role = 'start'
    redis.call('HSET', KEYS[3], 'started', '1')
  else
    role = 'wait'
  end
end
local leg = cjson.decode(ARGV[4])
leg['role'] = role
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(leg))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
if live + 1 > tonumber(ARGV[6]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  redis.call('ZREM', KEYS[2], oldest)
  redis.call('HDEL', KEYS[1], oldest)
end
return role
"""
_LEAVE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HGET', KEYS[3], 'streaming_on') == ARGV[1] then
  redis.call('HDEL', KEYS[3], 'streaming_on')
end
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('HDEL', KEYS[3], 'started') end
"""
_SET_STREAMING = """
if ARGV[1] == '' then
  redis.call('HDEL', KEYS[3], 'streaming_on')
elseif redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[3], 'streaming_on', ARGV[1])
end
"""
_FIRST_OR_SAME = """
local seen = redis.call('GET', KEYS[1])
if seen then return seen == ARGV[1] and 1 or 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
_STATE = """
local uuids = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
local legs = {}
if #uuids > 0 then legs = redis.call('HMGET', KEYS[1], unpack(uuids)) end
local meta = redis.call('HMGET', KEYS[3], 'started', 'streaming_on')
return {legs, meta[1], meta[2]}
"""


class RedisStore(ConferenceStore):
    """A Redis (or Valkey) server, for several processes on several machines.

    Every change is a Lua script (atomic in Redis); reads are one script too, so the state is
    seen at one instant. Each command gives up after OPERATION_TIMEOUT; a connection that
    broke (Redis restarted) is retried once on a new one, so the same process serves normally
    again as soon as Redis is back.
    """

    def __init__(self, url, conference, quorum=None):
        import redis  # only those who use Redis need the package's import time
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        super().__init__(url, conference, quorum)
        self._errors = redis.RedisError
        self._timeout_errors = (redis.TimeoutError,)
        self._refusals = (redis.AuthenticationError, redis.ResponseError)
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=OPERATION_TIMEOUT,
            socket_connect_timeout=OPERATION_TIMEOUT,
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
            health_check_interval=30,
            decode_responses=True,
        )
        prefix = f"vonage-audio-stream:{conference}:"
        self.keys = [prefix + "legs", prefix + "order", prefix + "meta"]
        self.tokens_prefix = "vonage-audio-stream:seen-token:"
        scripts = (_JOIN, _LEAVE, _SET_STREAMING, _STATE, _FIRST_OR_SAME)
        self._join, self._leave, self._set, self._read, self._first = map(
            self.client.register_script, scripts
        )
        deadline = time.monotonic() + STARTUP_WAIT
        while True:
            try:
                self._check()
                break
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
            why = f"did not answer within {OPERATION_TIMEOUT} s"
        else:
            why = f"failed ({text})"
        return StoreError(
            f"the conference store at {self.where} {why}: check that Redis is running and "
            "reachable, and STATE_URL"
        )

    def joined(self, uuid, caller, host=None):
        now = time.time()
        leg = json.dumps({"uuid": uuid, "from": caller, "since": now, "host": host})
        args = [uuid, repr(now), repr(now - LEG_LIFETIME), leg, self.quorum or 0, MAX_LEGS]
        return self._run(self._join, keys=self.keys, args=args)

    def left(self, uuid):
        self._run(self._leave, keys=self.keys, args=[uuid])

    def set_streaming(self, uuid):
        self._run(self._set, keys=self.keys, args=[uuid or ""])

    def _state(self, now):
        legs, started, streaming_on = self._run(
            self._read, keys=self.keys, args=[repr(now - LEG_LIFETIME)]
        )
        return [json.loads(leg) for leg in legs if leg], started == "1", streaming_on

    def first_or_same(self, token, signed_request, max_age):
        key = self.tokens_prefix + token
        return bool(self._run(self._first, keys=[key], args=[signed_request, max_age]))

    def _check(self):
        self._call(self.client.ping, (), {})

    def close(self):
        self.client.close()


def describe(url):
    """Where the state lives, in words, without a password (temporary: replaced at merge)."""
    if url.startswith("sqlite:"):
        return f"the SQLite file {sqlite_path(url)}"
    return f"Redis at {masked(url)}"
