"""Scenario 3's mailbox, against every real store (an SQLite file, then a real Redis)."""

import pytest

from conference_store import StoreError
from conference_store.mailbox import TooLarge, open_mailbox

URL = "https://api-us.vonage.com/v1/files/aaaaaaaa-0000-1111-2222-333333333333"


@pytest.fixture
def mailbox(state_url):
    box = open_mailbox(state_url, max_messages=3, max_bytes=1000)
    yield box
    box.close()


def leave(mailbox, n, audio=b"ID3 audio"):
    """A message left at time n, downloaded and kept: its id."""
    message_id = mailbox.expect(f"{URL}-{n}", f"44770090000{n}", float(n), 2.5)
    mailbox.keep(message_id, audio)
    return message_id


def test_a_recording_is_pending_until_kept_then_a_message_with_who_when_and_how_long(mailbox):
    message_id = mailbox.expect(URL, "447700900001", 1000.5, 7.0)

    [pending] = mailbox.due(now=2000.0, lease=60)
    assert (pending.id, pending.url, pending.caller, pending.left_at) == (
        message_id,
        URL,
        "447700900001",
        1000.5,
    )
    assert mailbox.messages() == []
    assert mailbox.keep(message_id, b"ID3 the audio") == []
    [message] = mailbox.messages()
    assert (message.id, message.caller, message.left_at, message.duration, message.size) == (
        message_id,
        "447700900001",
        1000.5,
        7.0,
        13,
    )
    assert mailbox.audio(message_id) == b"ID3 the audio"
    assert mailbox.due(now=5000.0, lease=60) == []


def test_ids_are_long_and_random_and_a_retried_webhook_gets_the_same_one(mailbox):
    first = mailbox.expect(URL, None, 1.0, None)

    assert mailbox.expect(URL, None, 1.0, None) == first
    assert len(first) >= 43 and first.isascii() and "/" not in first
    assert mailbox.expect(URL + "-other", None, 1.0, None) != first


def test_a_claimed_download_is_not_due_again_until_its_lease_ends_or_its_retry_time(mailbox):
    message_id = mailbox.expect(URL, None, 1.0, None)
    mailbox.due(now=10.0, lease=60)

    assert mailbox.due(now=20.0, lease=60) == []
    assert [p.id for p in mailbox.due(now=71.0, lease=60)] == [message_id]
    mailbox.retry_at(message_id, when=500.0, attempts=3)
    assert mailbox.due(now=499.0, lease=60) == []
    [again] = mailbox.due(now=500.0, lease=60)
    assert again.attempts == 3


def test_a_download_given_up_is_forgotten(mailbox):
    message_id = mailbox.expect(URL, None, 1.0, None)
    mailbox.give_up(message_id)

    assert mailbox.due(now=1e12, lease=60) == []
    assert mailbox.keep(message_id, b"late") is None
    assert mailbox.messages() == []


def test_messages_come_newest_first_and_past_the_count_cap_the_oldest_are_dropped(mailbox):
    ids = [leave(mailbox, n) for n in range(1, 4)]

    dropped = mailbox.keep(mailbox.expect(URL + "-4", None, 4.0, None), b"newest")

    assert dropped == [ids[0]]
    assert [m.left_at for m in mailbox.messages()] == [4.0, 3.0, 2.0]
    assert mailbox.audio(ids[0]) is None


def test_audio_over_the_size_cap_is_refused_and_stays_pending(mailbox):
    message_id = mailbox.expect(URL, None, 1.0, None)

    with pytest.raises(TooLarge):
        mailbox.keep(message_id, b"x" * 1001)
    assert mailbox.messages() == []
    assert [p.id for p in mailbox.due(now=2.0, lease=1)] == [message_id]


def test_delete_removes_one_message_and_delete_until_those_heard(mailbox):
    ids = [leave(mailbox, n) for n in range(1, 4)]

    assert mailbox.delete(ids[2]) is True
    assert mailbox.delete(ids[2]) is False
    assert mailbox.audio(ids[2]) is None
    assert mailbox.delete_until(2.0) == 2
    assert mailbox.messages() == []


def test_two_processes_sharing_the_store_see_the_same_messages(mailbox, state_url):
    other = open_mailbox(state_url)
    try:
        message_id = leave(mailbox, 1, b"ID3 from one")

        assert [m.id for m in other.messages()] == [message_id]
        assert other.audio(message_id) == b"ID3 from one"
    finally:
        other.close()


def test_a_store_that_is_down_raises_store_error(redis_server, redis_url):
    box = open_mailbox(redis_url)
    redis_server.pause()
    try:
        with pytest.raises(StoreError, match="did not answer"):
            box.messages()
    finally:
        redis_server.resume()
        box.close()


def test_next_due_is_the_soonest_retry_whoever_scheduled_it(mailbox):
    assert mailbox.next_due() is None
    first = mailbox.expect(URL, None, 1.0, None)
    second = mailbox.expect(URL + "-2", None, 1.0, None)
    mailbox.retry_at(first, when=300.0, attempts=1)
    mailbox.retry_at(second, when=200.0, attempts=1)

    assert mailbox.next_due() == 200.0
