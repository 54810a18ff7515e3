"""The mailbox in Redis (or Valkey): each change one Lua script (lua/mailbox_*.lua)."""

import json

from . import base
from .mailbox import Mailbox, Message, Pending, new_id, serves
from .redis import LUA, RedisStore

PREFIX = "vonage-audio-stream:mailbox:"


@serves(RedisStore)
class RedisMailbox(Mailbox):
    """Keys: pending (hash id -> JSON), due (sorted set id -> next try), urls (hash url -> id),
    messages (sorted set id -> left_at), meta (hash id -> JSON), audio:<id> (the MP3 bytes).

    The audio is binary, so this has a client of its own that leaves replies as bytes (the
    conference store's decodes them as text); failures are reported as the conference
    store's are, with its pause after a failure.
    """

    def __init__(self, store, **caps):
        super().__init__(store, **caps)
        import redis  # only those who use Redis need the package's import time

        self.client = redis.Redis.from_url(
            store.url,
            socket_timeout=base.OPERATION_TIMEOUT,
            socket_connect_timeout=base.OPERATION_TIMEOUT,
        )
        self.pending_keys = [PREFIX + name for name in ("pending", "due", "urls")]
        self.message_keys = [PREFIX + name for name in ("messages", "meta", "audio:")]
        self._scripts = {
            name: self.client.register_script((LUA / f"mailbox_{name}.lua").read_text())
            for name in ("expect", "due", "retry", "forget", "keep", "delete")
        }

    def _run(self, command, *args, **kwargs):
        return self.store._run(command, *args, **kwargs)

    def _script(self, name, keys, args):
        return self._run(self._scripts[name], keys=keys, args=args)

    def expect(self, url, caller, left_at, duration):
        message_id = new_id()
        fields = {"id": message_id, "url": url, "caller": caller, "left_at": left_at}
        fields.update(duration=duration, attempts=0)
        known = self._script("expect", self.pending_keys, [message_id, url, json.dumps(fields)])
        return known.decode()

    def due(self, now, lease):
        found = self._script("due", self.pending_keys[:2], [repr(now), repr(now + lease)])
        return [Pending(**json.loads(raw)) for raw in found if raw]

    def next_due(self):
        soonest = self._run(self.client.zrange, self.pending_keys[1], 0, 0, withscores=True)
        return soonest[0][1] if soonest else None

    def retry_at(self, message_id, when, attempts):
        self._script("retry", self.pending_keys[:2], [message_id, repr(when), attempts])

    def give_up(self, message_id):
        raw = self._run(self.client.hget, self.pending_keys[0], message_id)
        url = json.loads(raw)["url"] if raw else ""
        self._script("forget", self.pending_keys, [message_id, url])

    def keep(self, message_id, audio):
        self._check_size(audio)
        keys = self.pending_keys + self.message_keys
        dropped = self._script("keep", keys, [message_id, audio, self.max_messages])
        return None if dropped is None else [old.decode() for old in dropped]

    def messages(self):
        ids = self._run(self.client.zrevrange, self.message_keys[0], 0, -1)
        if not ids:
            return []
        metas = self._run(self.client.hmget, self.message_keys[1], ids)
        return [
            Message(id=message_id.decode(), **json.loads(meta))
            for message_id, meta in zip(ids, metas, strict=True)
            if meta
        ]

    def audio(self, message_id):
        return self._run(self.client.get, self.message_keys[2] + message_id)

    def delete(self, message_id):
        messages, meta, audio = self.message_keys
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(messages, message_id).hdel(meta, message_id).delete(audio + message_id)
        removed, *_ = self._run(pipe.execute)
        return bool(removed)

    def delete_until(self, left_at):
        return self._script("delete", self.message_keys, [repr(left_at)])

    def close(self):
        self.client.close()
        super().close()
