"""The mailbox in an SQLite file: the audio as a BLOB beside the conference's tables."""

from .mailbox import Mailbox, Message, Pending, new_id, serves
from .sqlite import SqliteStore

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS mailbox_pending (
        id TEXT PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        caller TEXT,
        left_at REAL NOT NULL,
        duration REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mailbox_pending_by_time ON mailbox_pending (next_try)",
    """CREATE TABLE IF NOT EXISTS mailbox_messages (
        id TEXT PRIMARY KEY,
        caller TEXT,
        left_at REAL NOT NULL,
        duration REAL,
        audio BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS mailbox_messages_by_age ON mailbox_messages (left_at)",
)


@serves(SqliteStore)
class SqliteMailbox(Mailbox):
    """Every change in one write transaction of the conference store's (which other processes
    wait for); every read in one read transaction."""

    def __init__(self, store, **caps):
        super().__init__(store, **caps)

        def create(db):
            for statement in SCHEMA:
                db.execute(statement)

        store._write(create)

    def expect(self, url, caller, left_at, duration):
        def add(db):
            row = db.execute("SELECT id FROM mailbox_pending WHERE url = ?", (url,)).fetchone()
            if row:
                return row[0]
            message_id = new_id()
            db.execute(
                "INSERT INTO mailbox_pending (id, url, caller, left_at, duration, next_try)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (message_id, url, caller, left_at, duration, 0),
            )
            return message_id

        return self.store._write(add)

    def due(self, now, lease):
        def claim(db):
            rows = db.execute(
                "SELECT id, url, caller, left_at, duration, attempts FROM mailbox_pending"
                " WHERE next_try <= ? ORDER BY next_try",
                (now,),
            ).fetchall()
            db.executemany(
                "UPDATE mailbox_pending SET next_try = ? WHERE id = ?",
                [(now + lease, row[0]) for row in rows],
            )
            return [Pending(*row) for row in rows]

        return self.store._write(claim)

    def next_due(self):
        return self.store._read(
            lambda db: db.execute("SELECT min(next_try) FROM mailbox_pending").fetchone()[0]
        )

    def retry_at(self, message_id, when, attempts):
        self.store._write(
            lambda db: db.execute(
                "UPDATE mailbox_pending SET next_try = ?, attempts = ? WHERE id = ?",
                (when, attempts, message_id),
            )
        )

    def give_up(self, message_id):
        self.store._write(
            lambda db: db.execute("DELETE FROM mailbox_pending WHERE id = ?", (message_id,))
        )

    def keep(self, message_id, audio):
        self._check_size(audio)

        def move(db):
            row = db.execute(
                "SELECT caller, left_at, duration FROM mailbox_pending WHERE id = ?",
                (message_id,),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM mailbox_pending WHERE id = ?", (message_id,))
            db.execute(
                "INSERT INTO mailbox_messages VALUES (?, ?, ?, ?, ?)", (message_id, *row, audio)
            )
            dropped = db.execute(
                "SELECT id FROM mailbox_messages ORDER BY left_at DESC, rowid DESC"
                " LIMIT -1 OFFSET ?",
                (self.max_messages,),
            ).fetchall()
            db.executemany("DELETE FROM mailbox_messages WHERE id = ?", dropped)
            return [old for (old,) in reversed(dropped)]

        return self.store._write(move)

    def messages(self):
        rows = self.store._read(
            lambda db: db.execute(
                "SELECT id, caller, left_at, duration, length(audio) FROM mailbox_messages"
                " ORDER BY left_at DESC, rowid DESC"
            ).fetchall()
        )
        return [Message(*row) for row in rows]

    def audio(self, message_id):
        row = self.store._read(
            lambda db: db.execute(
                "SELECT audio FROM mailbox_messages WHERE id = ?", (message_id,)
            ).fetchone()
        )
        return bytes(row[0]) if row else None

    def delete(self, message_id):
        return bool(
            self.store._write(
                lambda db: (
                    db.execute("DELETE FROM mailbox_messages WHERE id = ?", (message_id,)).rowcount
                )
            )
        )

    def delete_until(self, left_at):
        return self.store._write(
            lambda db: (
                db.execute("DELETE FROM mailbox_messages WHERE left_at <= ?", (left_at,)).rowcount
            )
        )
