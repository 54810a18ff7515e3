"""An SQLite file: the default store, in Python's standard library (nothing to install or
start), shared by the processes of one machine."""

import contextlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from . import base
from .base import ConferenceStore, StoreBusy, StoreError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_URL = "sqlite:///conference.sqlite3"


def sqlite_path(url):
    """The database file of an sqlite:/// URL: relative paths are from the project folder."""
    path = Path(url[len("sqlite:///") :]).expanduser()
    return path if path.is_absolute() else PROJECT_DIR / path


class SqliteStore(ConferenceStore):
    """An SQLite file: every change in one `BEGIN IMMEDIATE` transaction, which other
    processes wait for, so a quorum is counted exactly across processes.

    WAL mode with `synchronous=NORMAL`: a committed leg survives the process being killed
    (`kill -9`); only a power cut can lose the last moments (https://sqlite.org/wal.html).
    A few connections are kept for reads, never shared by two threads at once; each process
    writes through one connection of its own, one thread at a time. None is carried across a
    fork (Gunicorn builds the app before forking its workers).
    """

    SCHEMES = ("sqlite",)
    FORM = "sqlite:///conference.sqlite3 (the default: a file)"

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
        -- this index each is a seek, not a scan and sort of every live leg.
        CREATE INDEX IF NOT EXISTS legs_by_age ON legs (conference, since);
        CREATE TABLE IF NOT EXISTS conferences (
            name TEXT PRIMARY KEY,
            started INTEGER NOT NULL DEFAULT 0,
            streaming_on TEXT
        );
        -- How many legs each conference has, kept by SQLite on every insert and delete, so
        -- that an answer reads one number instead of counting up to MAX_LEGS legs.
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
    # The counts from the legs themselves: a file from before leg_counts has legs and no
    # counts; from then on the triggers keep them.
    RECOUNT = """
        DELETE FROM leg_counts;
        INSERT INTO leg_counts SELECT conference, count(*) FROM legs GROUP BY conference;
    """
    # Version 2: what the music is and until when it follows the conference (`ended`), and
    # why it stopped.
    MUSIC = """
        ALTER TABLE conferences ADD COLUMN music TEXT;
        ALTER TABLE conferences ADD COLUMN follow_until REAL NOT NULL DEFAULT 0;
        ALTER TABLE conferences ADD COLUMN music_note TEXT;
    """
    # PRAGMA user_version of a file with the schema above and MUSIC; a new file, or one from
    # before leg_counts, is at 0.
    SCHEMA_VERSION = 2
    KEEP_CONNECTIONS = 16

    @classmethod
    def check_url(cls, raw):
        if not raw.startswith("sqlite:///") or raw.rstrip("/") == "sqlite:":
            raise ValueError(
                "give sqlite:///conference.sqlite3 (a file in the project folder), "
                "sqlite:////absolute/path.sqlite3, or redis://host:6379/0"
            )
        return raw

    @classmethod
    def describe(cls, url):
        return f"the SQLite file {sqlite_path(url)}"

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
                    self._migrate(db)
                except sqlite3.Error as error:
                    raise self._error(error) from None
        finally:
            self.close()

    def _migrate(self, db):
        """Bring the file to SCHEMA_VERSION, once, under the write lock."""
        if db.execute("PRAGMA user_version").fetchone()[0] >= self.SCHEMA_VERSION:
            return
        version = db.execute("PRAGMA user_version").fetchone()[0]
        steps = f"{self.SCHEMA} {self.RECOUNT} {self.MUSIC}" if version < 1 else self.MUSIC
        try:
            db.executescript(
                f"BEGIN IMMEDIATE; {steps} PRAGMA user_version = {self.SCHEMA_VERSION}; COMMIT;"
            )
        except sqlite3.OperationalError:
            # Another process starting at the same moment migrated it first (a duplicate
            # column): nothing is left to do.
            if db.in_transaction:
                db.execute("ROLLBACK")
            if db.execute("PRAGMA user_version").fetchone()[0] < self.SCHEMA_VERSION:
                raise

    def _connect(self):
        try:
            db = sqlite3.connect(
                self.path,
                timeout=base.OPERATION_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
            db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as error:
            raise self._error(error) from None
        return db

    @contextlib.contextmanager
    def _connection(self):
        """One idle connection (or a new one), given back after."""
        self._in_this_process()
        try:
            db = self._idle.pop()  # list.pop is atomic: no two threads get the same one
        except IndexError:
            db = self._connect()
        try:
            yield db
        finally:
            if len(self._idle) < self.KEEP_CONNECTIONS and not db.in_transaction:
                self._idle.append(db)
            else:
                db.close()

    def _error(self, error):
        text = str(error)
        if "unable to open" in text:
            what = "check that its folder exists and this user may write there"
        elif "locked" in text or "busy" in text:
            what = f"another process held it for over {base.OPERATION_TIMEOUT} s; try again"
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
        lock, whose busy handler can leave a writer waiting past the timeout while others
        write.
        """
        deadline = time.monotonic() + base.OPERATION_TIMEOUT
        self._in_this_process()
        writing = self._writing
        if not writing.acquire(timeout=base.OPERATION_TIMEOUT):
            raise StoreBusy(
                f"the conference store {self.where} is busy: this process waited over "
                f"{base.OPERATION_TIMEOUT} s for its turn to write; try again"
            )
        try:
            if self._writer is None:
                self._writer = self._connect()
                self._writer.execute("PRAGMA busy_timeout = 0")  # _begin_immediate waits
            return self._transaction(self._writer, work, deadline)
        finally:
            writing.release()

    def _transaction(self, db, work, deadline):
        """`work(db)` between BEGIN IMMEDIATE and COMMIT, rolled back if anything fails."""
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
            live = self._forget_expired(db, now)
            row = db.execute(
                "SELECT started FROM conferences WHERE name = ?", (self.conference,)
            ).fetchone()
            started = bool(row and row[0]) and live > 0
            role = self._role(live, started)
            self._add(db, (uuid, caller, now, role, host), live)
            db.execute(
                "INSERT INTO conferences (name, started) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET started = excluded.started",
                (self.conference, int(started or role == "start")),
            )
            return role

        return self._write(join)

    def answered(self, uuid, caller, host=None):
        now = time.time()

        def record(db):
            if self._knows(db, uuid):
                return False
            live = self._forget_expired(db, now)
            if not live:  # the legs of the last round have all expired: so has the round
                db.execute("UPDATE conferences SET started = 0 WHERE name = ?", (self.conference,))
            self._add(db, (uuid, caller, now, "join", host), live)
            return True

        return self._write(record)

    def _knows(self, db, uuid):
        return db.execute(
            "SELECT 1 FROM legs WHERE conference = ? AND uuid = ?", (self.conference, uuid)
        ).fetchone()

    def forget_legs(self):
        cutoff = time.time() - base.LEG_LIFETIME

        def forget(db):
            live = db.execute(
                "SELECT count(*) FROM legs WHERE conference = ? AND since >= ?",
                (self.conference, cutoff),
            ).fetchone()[0]
            db.execute("DELETE FROM legs WHERE conference = ?", (self.conference,))
            db.execute("DELETE FROM conferences WHERE name = ?", (self.conference,))
            return live

        return self._write(forget)

    def _forget_expired(self, db, now):
        """Forget the legs past LEG_LIFETIME; the number of legs left."""
        db.execute(
            "DELETE FROM legs WHERE conference = ? AND since < ?",
            (self.conference, now - base.LEG_LIFETIME),
        )
        row = db.execute(
            "SELECT live FROM leg_counts WHERE conference = ?", (self.conference,)
        ).fetchone()
        return row[0] if row else 0

    def _add(self, db, leg, live):
        """Add `leg` (uuid, caller, since, role, host) beside `live` legs; past MAX_LEGS,
        forget the oldest."""
        db.execute(
            "INSERT INTO legs (conference, uuid, caller, since, role, host)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (self.conference, *leg),
        )
        if live + 1 > base.MAX_LEGS:
            db.execute(
                "DELETE FROM legs WHERE conference = ? AND uuid = (SELECT uuid FROM legs"
                " WHERE conference = ? ORDER BY since, rowid LIMIT 1)",
                (self.conference, self.conference),
            )

    def left(self, uuid):
        def leave(db):
            self._leave(db, uuid)
            db.execute(
                "UPDATE conferences SET streaming_on = NULL WHERE name = ? AND streaming_on = ?",
                (self.conference, uuid),
            )

        self._write(leave)

    def _leave(self, db, uuid):
        """Forget leg `uuid`; once every leg has gone, the round is over."""
        db.execute("DELETE FROM legs WHERE conference = ? AND uuid = ?", (self.conference, uuid))
        db.execute(
            "UPDATE conferences SET started = 0 WHERE name = ? AND NOT EXISTS"
            " (SELECT 1 FROM legs WHERE conference = ?)",
            (self.conference, self.conference),
        )

    def set_streaming(self, uuid, music=None, note=None):
        follow_until = (music or {}).get("follow_until", 0)
        music = json.dumps(music) if music and uuid else None

        def record(db):
            db.execute(
                "INSERT INTO conferences (name, streaming_on, music, follow_until, music_note)"
                " SELECT ?, ?, ?, ?, ? WHERE ? IS NULL OR EXISTS"
                " (SELECT 1 FROM legs WHERE conference = ? AND uuid = ?)"
                " ON CONFLICT (name) DO UPDATE SET streaming_on = excluded.streaming_on,"
                " music = excluded.music, follow_until = excluded.follow_until,"
                " music_note = excluded.music_note",
                (self.conference, uuid, music, follow_until, note, uuid, self.conference, uuid),
            )

        self._write(record)

    def ended(self, uuid):
        now = time.time()

        def end(db):
            row = db.execute(
                "SELECT streaming_on, music, follow_until FROM conferences WHERE name = ?",
                (self.conference,),
            ).fetchone()
            self._leave(db, uuid)
            if not row or row[0] != uuid:
                return None
            newest = db.execute(
                "SELECT uuid, caller, since, role, host FROM legs WHERE conference = ?"
                " AND since >= ? ORDER BY since DESC, rowid DESC LIMIT 1",
                (self.conference, now - base.LEG_LIFETIME),
            ).fetchone()
            if newest and now < row[2]:
                db.execute(
                    "UPDATE conferences SET streaming_on = ? WHERE name = ?",
                    (newest[0], self.conference),
                )
                leg = dict(zip(("uuid", "from", "since", "role", "host"), newest, strict=True))
                return leg, json.loads(row[1])
            db.execute(
                "UPDATE conferences SET streaming_on = NULL, music = NULL, follow_until = 0,"
                " music_note = ? WHERE name = ?",
                (base.ENDED_WITH_ITS_CALLER if newest else None, self.conference),
            )
            return None

        return self._write(end)

    def _state(self, now):
        def read(db):
            rows = db.execute(
                "SELECT uuid, caller, since, role, host FROM legs"
                " WHERE conference = ? AND since >= ? ORDER BY since, rowid",
                (self.conference, now - base.LEG_LIFETIME),
            ).fetchall()
            row = db.execute(
                "SELECT started, streaming_on, music_note FROM conferences WHERE name = ?",
                (self.conference,),
            ).fetchone()
            return rows, row

        rows, row = self._read(read)
        legs = [dict(zip(("uuid", "from", "since", "role", "host"), r, strict=True)) for r in rows]
        started, streaming_on, note = row if row else (0, None, None)
        return legs, bool(started), streaming_on, note

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
