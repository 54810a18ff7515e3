"""The conference store's contract, run against each real backend: an SQLite file and a real
redis-server. What scenario 2 relies on: roles counted exactly, one streaming leg, state that
outlives the object, bounds, and a clear StoreError when the store is down."""

import math
import sqlite3
import threading
import time
from contextlib import closing

import pytest

import conference_store
from conference_store import SqliteStore, StoreError, open_store
from testing.processes import RedisServer

CONF = "Soothing Conference"


@pytest.fixture
def store_for(state_url):
    """Open stores on this test's STATE_URL (more than one: as several processes would)."""
    opened = []

    def open_one(quorum=None, conference=CONF):
        opened.append(open_store(state_url, conference, quorum))
        return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def uuids(store):
    return [leg["uuid"] for leg in store.snapshot()["legs"]]


def test_a_leg_is_recorded_with_its_caller_region_and_role(store_for):
    store = store_for()

    role = store.joined("leg-1", "447700900001", "api-us-3.vonage.com")

    [leg] = store.stream_candidates()
    assert role == "join"
    assert leg["uuid"] == "leg-1"
    assert (leg["from"], leg["host"], leg["role"]) == (
        "447700900001",
        "api-us-3.vonage.com",
        "join",
    )
    assert abs(leg["since"] - time.time()) < 5


def test_legs_are_kept_oldest_first_and_forgotten_when_they_leave(store_for):
    store = store_for()
    for n in range(1, 5):
        store.joined(f"leg-{n}", None)

    store.left("leg-2")
    store.left("leg-never-seen")

    assert uuids(store) == ["leg-1", "leg-3", "leg-4"]


def test_early_callers_wait_and_the_quorum_caller_starts(store_for):
    store = store_for(quorum=3)

    roles = [store.joined(f"leg-{n}", None) for n in range(1, 5)]

    assert roles == ["wait", "wait", "start", "join"]
    assert store.snapshot()["waiting_for_quorum"] is False


def test_a_retried_answer_gets_the_role_it_got_the_first_time(store_for):
    store = store_for(quorum=2)
    first = store.joined("leg-1", None)
    store.joined("leg-2", None)

    again = store.joined("leg-1", None)

    assert (first, again) == ("wait", "wait")
    assert uuids(store) == ["leg-1", "leg-2"]


def test_callers_are_waiting_until_the_quorum_then_the_round_ends_when_all_leave(store_for):
    store = store_for(quorum=2)
    assert store.waiting_for_quorum() is False  # no one in: no one waits

    store.joined("leg-1", None)
    assert store.waiting_for_quorum() is True
    store.joined("leg-2", None)
    assert store.waiting_for_quorum() is False
    store.left("leg-1")
    assert store.joined("leg-3", None) == "join"  # the round goes on while anyone is in
    store.left("leg-2")
    store.left("leg-3")

    assert store.joined("leg-4", None) == "wait"  # a new round


def test_music_plays_on_one_leg_which_comes_first_among_the_candidates(store_for):
    store = store_for()
    for n in range(1, 4):
        store.joined(f"leg-{n}", None)

    assert [leg["uuid"] for leg in store.stream_candidates()] == ["leg-3", "leg-2", "leg-1"]
    store.set_streaming("leg-1")

    assert [leg["uuid"] for leg in store.stream_candidates()] == ["leg-1", "leg-3", "leg-2"]
    assert store.streaming_leg()["uuid"] == "leg-1"
    assert store.snapshot()["streaming_on"] == "leg-1"


def test_music_stops_being_recorded_when_its_leg_leaves_or_is_stopped(store_for):
    store = store_for()
    store.joined("leg-1", None)
    store.joined("leg-2", None)
    store.set_streaming("leg-1")

    store.left("leg-1")
    assert store.streaming_leg() is None
    store.set_streaming("leg-2")
    store.set_streaming(None)

    assert store.snapshot()["streaming_on"] is None


def test_music_is_not_recorded_on_a_leg_that_is_not_live(store_for):
    store = store_for()

    store.set_streaming("leg-gone")

    assert store.streaming_leg() is None
    assert store.snapshot()["streaming_on"] is None


def test_another_store_object_on_the_same_url_sees_the_same_state(store_for):
    first = store_for(quorum=3)
    first.joined("leg-1", "447700900001")
    first.joined("leg-2", None)
    first.set_streaming("leg-2")

    second = store_for(quorum=3)  # another process, or this one after a restart

    assert second.snapshot() == first.snapshot()
    assert second.joined("leg-3", None) == "start"  # the same round, counted on
    assert first.waiting_for_quorum() is False


def test_two_conferences_in_one_store_are_apart(store_for):
    board = store_for(conference="Board")
    standup = store_for(conference="Stand-up")

    board.joined("leg-1", None)

    assert uuids(board) == ["leg-1"]
    assert uuids(standup) == []


FOREVER = {"url": "https://example.com/a.mp3", "loop": 0, "follow_until": math.inf}


def test_when_the_musics_leg_ends_the_music_moves_to_the_newest_live_leg(store_for):
    store = store_for()
    for n in range(1, 4):
        store.joined(f"leg-{n}", None)
    store.set_streaming("leg-1", FOREVER)

    leg, music = store.ended("leg-1")

    assert leg["uuid"] == "leg-3"
    assert music == FOREVER
    assert uuids(store) == ["leg-2", "leg-3"]
    assert store.snapshot()["streaming_on"] == "leg-3"
    assert store.streaming_leg()["uuid"] == "leg-3"  # where Stop reaches it


def test_an_ended_event_delivered_many_times_to_many_processes_moves_the_music_once(store_for):
    stores = [store_for() for _ in range(2)]
    for n in range(1, 4):
        stores[0].joined(f"leg-{n}", None)
    stores[0].set_streaming("leg-2", FOREVER)
    moves, gate = [], threading.Barrier(8)

    def deliver(n):
        gate.wait()
        moves.append(stores[n % 2].ended("leg-2"))

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    moved = [move for move in moves if move]
    assert [leg["uuid"] for leg, _ in moved] == ["leg-3"]
    assert stores[1].snapshot()["streaming_on"] == "leg-3"


def test_the_end_of_a_leg_without_the_music_moves_nothing(store_for):
    store = store_for()
    for n in range(1, 4):
        store.joined(f"leg-{n}", None)
    store.set_streaming("leg-1", FOREVER)

    assert store.ended("leg-3") is None
    assert store.snapshot()["streaming_on"] == "leg-1"


@pytest.mark.parametrize("follow_until", [0, "a second ago"])
def test_music_past_its_end_does_not_move_and_is_noted_as_ended_with_its_caller(
    store_for, follow_until
):
    store = store_for()
    store.joined("leg-1", None)
    store.joined("leg-2", None)
    until = time.time() - 1 if follow_until else 0
    store.set_streaming("leg-1", {"url": "https://example.com/a.mp3", "follow_until": until})

    assert store.ended("leg-1") is None
    snapshot = store.snapshot()
    assert (snapshot["streaming_on"], snapshot["music_note"]) == (
        None,
        conference_store.ENDED_WITH_ITS_CALLER,
    )


def test_after_stop_the_end_of_its_leg_moves_nothing(store_for):
    store = store_for()
    store.joined("leg-1", None)
    store.joined("leg-2", None)
    store.set_streaming("leg-1", FOREVER)
    store.set_streaming(None)

    assert store.ended("leg-1") is None
    assert store.snapshot()["music_note"] is None


def test_the_musics_last_leg_ending_leaves_no_music_and_no_note(store_for):
    store = store_for()
    store.joined("leg-1", None)
    store.set_streaming("leg-1", FOREVER)

    assert store.ended("leg-1") is None
    assert store.snapshot() == {
        "legs": [],
        "streaming_on": None,
        "music_note": None,
        "quorum": None,
        "waiting_for_quorum": False,
    }


def test_a_note_of_why_no_music_plays_is_kept_until_music_plays_again(store_for):
    store = store_for()
    store.joined("leg-1", None)

    store.set_streaming(None, note="Vonage failed")
    noted = store.snapshot()["music_note"]
    store.set_streaming("leg-1", FOREVER)

    assert noted == "Vonage failed"
    assert store.snapshot()["music_note"] is None


@pytest.mark.parametrize("quorum", [2, 5, 16])
def test_concurrent_callers_get_exactly_one_start(store_for, quorum):
    stores = [store_for(quorum=quorum) for _ in range(2)]  # two "processes", four threads each
    roles, gate = [], threading.Barrier(24)

    def call(n):
        gate.wait()
        roles.append(stores[n % 2].joined(f"leg-{n}", None))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(roles) == sorted(["wait"] * (quorum - 1) + ["start"] + ["join"] * (24 - quorum))


def test_live_legs_stay_exact_under_concurrent_answers_and_hang_ups(store_for):
    store = store_for()
    legs = [f"leg-{n}" for n in range(200)]
    start = threading.Barrier(8)

    def caller(chunk):
        start.wait()
        for uuid in chunk:
            store.joined(uuid, None)
            store.stream_candidates()
        for uuid in chunk[::2]:
            store.left(uuid)

    threads = [threading.Thread(target=caller, args=(legs[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(uuids(store)) == sorted(u for i in range(8) for u in legs[i::8][1::2])


def test_a_leg_whose_hang_up_was_missed_expires_after_the_longest_call(store_for, monkeypatch):
    store = store_for(quorum=2)
    store.joined("leg-old", None)
    store.set_streaming("leg-old")
    later = time.time() + conference_store.LEG_LIFETIME + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert uuids(store) == []
    assert store.snapshot()["streaming_on"] is None
    assert store.joined("leg-new", None) == "wait"  # the old leg no longer counts
    assert uuids(store) == ["leg-new"]


def test_the_longest_call_is_vonages_two_hours_plus_a_margin():
    assert 7200 < conference_store.LEG_LIFETIME <= 7200 + 3600


def test_the_live_legs_are_bounded_against_a_flood_of_fake_calls(store_for, monkeypatch):
    monkeypatch.setattr(conference_store.base, "MAX_LEGS", 20)
    store = store_for()

    for n in range(25):
        store.joined(f"leg-{n:02d}", None)

    assert uuids(store) == [f"leg-{n:02d}" for n in range(5, 25)]


def test_a_healthy_store_has_no_problem(store_for):
    assert store_for().problem() is None


def test_a_signed_token_is_accepted_again_only_for_the_same_request_by_any_process(store_for):
    one, two = store_for(), store_for()

    first = one.first_or_same("token-a", "request-1", 300)
    retried = two.first_or_same("token-a", "request-1", 300)
    replayed = two.first_or_same("token-a", "request-2", 300)
    other = one.first_or_same("token-b", "request-2", 300)

    assert (first, retried, replayed, other) == (True, True, False, True)


def test_a_signed_token_is_forgotten_once_it_is_too_old_to_be_accepted(store_for, monkeypatch):
    store = store_for()
    store.first_or_same("token-a", "request-1", 1)
    later = time.time() + 2
    monkeypatch.setattr(time, "time", lambda: later)
    if store.url.startswith("redis"):
        time.sleep(2.1)  # Redis expires the key itself, on its own clock

    assert store.first_or_same("token-a", "request-2", 1) is True


# The store down: each backend's own ways of failing.


def test_redis_stopped_gives_a_store_error_naming_it_then_serves_again(redis_server, redis_url):
    store = open_store(redis_url, CONF)
    store.joined("leg-1", None)
    redis_server.stop()

    started = time.monotonic()
    with pytest.raises(StoreError) as failed:
        store.joined("leg-2", None)
    took = time.monotonic() - started

    assert took < 1
    assert str(failed.value).startswith(f"the conference store at {redis_url} failed (")
    assert str(failed.value).endswith("check that Redis is running and reachable, and STATE_URL")
    assert redis_url in store.problem()
    redis_server.start()  # an empty Redis: no persistence in the tests
    assert store.problem() is None  # a health probe finds it back...
    assert store.joined("leg-3", None) == "join"  # ...and the same object serves, no restart


def test_redis_that_hangs_gives_a_store_error_within_a_second_then_serves_again(
    redis_server, redis_url
):
    store = open_store(redis_url, CONF)
    store.joined("leg-1", None)
    redis_server.pause()
    try:
        for operation in (lambda: store.joined("leg-2", None), store.snapshot, store.problem):
            started = time.monotonic()
            try:
                problem = operation()
            except StoreError as error:
                problem = str(error)
            took = time.monotonic() - started
            assert took < 1
            assert f"the conference store at {redis_url} did not answer within 0.5 s" in problem
    finally:
        redis_server.resume()

    # Redis had received the join before it froze, and carries it out once it resumes: the
    # leg is recorded late rather than lost.
    assert store.problem() is None
    assert uuids(store) == ["leg-1", "leg-2"]
    assert store.joined("leg-3", None) == "join"


def test_an_sqlite_file_locked_by_a_hung_process_gives_a_store_error_within_a_second(tmp_path):
    url = f"sqlite:///{tmp_path}/conference.sqlite3"
    store = open_store(url, CONF)
    store.joined("leg-1", None)
    hung = sqlite3.connect(tmp_path / "conference.sqlite3", isolation_level=None)
    hung.execute("BEGIN EXCLUSIVE")  # a process that took the write lock and froze

    started = time.monotonic()
    with pytest.raises(StoreError) as failed:
        store.joined("leg-2", None)
    took = time.monotonic() - started

    assert took < 1
    assert str(failed.value).startswith(f"the conference store {url} ({tmp_path}/")
    assert "database is locked" in str(failed.value)
    assert store.problem() is not None
    hung.execute("ROLLBACK")
    hung.close()
    assert store.problem() is None
    assert store.joined("leg-2", None) == "join"
    assert uuids(store) == ["leg-1", "leg-2"]


def test_after_a_failure_the_store_is_not_asked_again_for_a_moment_then_it_is(
    redis_server, redis_url, monkeypatch
):
    monkeypatch.setattr(conference_store.base, "RETRY_AFTER", 0.3)
    store = open_store(redis_url, CONF)
    store.joined("leg-0", None)  # Redis now has the join script (EVALSHA works while it hangs)
    store.left("leg-0")
    redis_server.pause()
    try:
        with pytest.raises(StoreError) as first:
            store.joined("leg-1", None)  # waits OPERATION_TIMEOUT
        started = time.monotonic()
        with pytest.raises(StoreError) as second:
            store.snapshot()
        fail_fast = time.monotonic() - started
    finally:
        redis_server.resume()

    assert fail_fast < 0.05  # a webhook is not held up by a store known to be down
    assert str(second.value) == str(first.value)
    time.sleep(0.3)
    assert uuids(store) == ["leg-1"]  # asked again: Redis did the join when it woke up


def test_an_sqlite_file_from_before_the_leg_counts_has_its_legs_counted_at_start(tmp_path):
    path = tmp_path / "conference.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE legs (conference TEXT NOT NULL, uuid TEXT NOT NULL, caller TEXT,
            since REAL NOT NULL, role TEXT NOT NULL, host TEXT, PRIMARY KEY (conference, uuid));
        CREATE TABLE conferences (name TEXT PRIMARY KEY, started INTEGER NOT NULL DEFAULT 0,
            streaming_on TEXT);
        """
    )
    now = time.time()
    old.executemany(
        "INSERT INTO legs VALUES (?, ?, NULL, ?, 'wait', NULL)",
        [(CONF, "leg-1", now), (CONF, "leg-2", now + 1)],
    )
    old.commit()
    old.close()
    store = open_store(f"sqlite:///{path}", CONF, quorum=3)

    role = store.joined("leg-3", None)

    store.close()
    assert role == "start"  # the two legs already in the file count towards the quorum


def test_an_sqlite_file_is_stamped_with_its_schema_version_and_not_recounted_at_each_start(
    tmp_path,
):
    path = tmp_path / "conference.sqlite3"
    open_store(f"sqlite:///{path}", CONF).close()
    with closing(sqlite3.connect(path)) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute("INSERT INTO leg_counts VALUES (?, 5)", (CONF,))  # what a recount would undo
        db.commit()

    open_store(f"sqlite:///{path}", CONF).close()

    with closing(sqlite3.connect(path)) as db:
        counted = db.execute("SELECT live FROM leg_counts").fetchall()
    assert version == SqliteStore.SCHEMA_VERSION > 0
    assert counted == [(5,)]


def test_an_sqlite_file_of_schema_version_1_keeps_its_legs_and_learns_the_music(tmp_path):
    path = tmp_path / "conference.sqlite3"
    with closing(sqlite3.connect(path)) as old:
        old.executescript(SqliteStore.SCHEMA + "PRAGMA user_version = 1;")
        old.execute("INSERT INTO legs VALUES (?, 'leg-1', NULL, ?, 'join', NULL)", (CONF, 1e10))
        old.commit()
    store = open_store(f"sqlite:///{path}", CONF)

    store.joined("leg-2", None)
    store.set_streaming("leg-1", FOREVER)
    moved, _ = store.ended("leg-1")

    store.close()
    assert moved["uuid"] == "leg-2"


def test_an_sqlite_file_in_a_folder_that_does_not_exist_cannot_be_opened(tmp_path):
    url = f"sqlite:///{tmp_path}/no/such/folder/conference.sqlite3"

    with pytest.raises(StoreError) as failed:
        open_store(url, CONF)

    assert "unable to open database file" in str(failed.value)
    assert "check that its folder exists and this user may write there" in str(failed.value)


def test_a_redis_that_cannot_be_reached_at_start_is_reported_within_ten_seconds(monkeypatch):
    monkeypatch.setattr(conference_store.base, "STARTUP_WAIT", 1)
    url = "redis://:hunter2-secret@127.0.0.1:9/0"

    started = time.monotonic()
    with pytest.raises(StoreError) as failed:
        open_store(url, CONF)

    assert time.monotonic() - started < 10
    assert "redis://:***@127.0.0.1:9/0" in str(failed.value)
    assert "hunter2" not in str(failed.value)


def test_the_default_waits_for_a_redis_that_starts_up_at_most_ten_seconds():
    assert conference_store.STARTUP_WAIT + 2 * conference_store.OPERATION_TIMEOUT < 10


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///conference.sqlite3",
        "sqlite:////var/lib/vonage/conference.sqlite3",
        "redis://localhost:6379/0",
        "redis://:secret@redis.internal:6380/2",
        "rediss://default:secret@cache.example.com:6380",
    ],
)
def test_a_state_url_of_each_supported_form_is_accepted(url):
    assert conference_store.check_url(url) == url


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgres://localhost/db", "give sqlite:///conference.sqlite3 (the default: a file)"),
        ("sqlite://conference.sqlite3", "sqlite:////absolute/path.sqlite3"),
        ("sqlite:///", "sqlite:////absolute/path.sqlite3"),
        ("redis://", "name the Redis host"),
        ("redis://localhost:port/0", "the port must be a number"),
        ("redis://localhost:6379/zero", "the database is a number"),
        ("conference.sqlite3", "give sqlite:///conference.sqlite3"),
    ],
)
def test_a_state_url_of_another_form_is_refused_saying_what_is_allowed(url, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        conference_store.check_url(url)


def test_a_relative_sqlite_path_is_in_the_project_folder():
    assert conference_store.sqlite_path("sqlite:///conference.sqlite3") == (
        conference_store.PROJECT_DIR / "conference.sqlite3"
    )
    assert str(conference_store.sqlite_path("sqlite:////tmp/x.sqlite3")) == "/tmp/x.sqlite3"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://default:s3cret@host:6380", "rediss://default:***@host:6380"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("sqlite:///conference.sqlite3", "sqlite:///conference.sqlite3"),
    ],
)
def test_a_password_in_the_state_url_is_never_shown(url, shown):
    assert conference_store.masked(url) == shown


@pytest.mark.parametrize(
    ("password", "reason"),
    [("", "it wants a password"), (":wrong-password@", "invalid username-password pair")],
)
def test_a_redis_that_refuses_our_password_is_reported_at_once_saying_where_it_goes(
    tmp_path, password, reason
):
    server = RedisServer(tmp_path, "--requirepass", "the-right-password")
    url = f"redis://{password}127.0.0.1:{server.port}/0"
    try:
        started = time.monotonic()
        with pytest.raises(StoreError) as failed:
            open_store(url, CONF)
        took = time.monotonic() - started
    finally:
        server.stop()

    assert took < 2  # no point waiting: it answered
    assert str(failed.value) == (
        f"the conference store at {conference_store.masked(url)} refused us ({reason}"
        + (" or user is disabled" if password else "")
        + "): put its password in STATE_URL, as redis://:PASSWORD@host:port/db"
    )


# A leg the answer webhook could not record (the store was down) is recorded by its answered
# event; leftovers and forget_legs serve the start-up banner and clearing old legs.


def test_an_answered_leg_the_store_missed_is_recorded_as_a_plain_join(store_for):
    store = store_for(quorum=3)

    recorded = store.answered("leg-1", "447700900001", "api-us-3.vonage.com")

    [leg] = store.stream_candidates()
    assert recorded is True
    assert (leg["uuid"], leg["from"], leg["host"], leg["role"]) == (
        "leg-1",
        "447700900001",
        "api-us-3.vonage.com",
        "join",
    )
    assert abs(leg["since"] - time.time()) < 5


def test_an_answered_event_for_a_leg_the_store_knows_changes_nothing(store_for):
    store = store_for(quorum=3)
    store.joined("leg-1", "447700900001", "api-us-3.vonage.com")
    before = store.stream_candidates()

    recorded = store.answered("leg-1", "447700900002", None)

    assert recorded is False
    assert store.stream_candidates() == before


def test_an_answered_event_delivered_twice_records_the_leg_once(store_for):
    store = store_for()

    first = store.answered("leg-1", "447700900001")
    again = store.answered("leg-1", "447700900001")

    assert (first, again) == (True, False)
    assert uuids(store) == ["leg-1"]


def test_a_leg_recorded_by_its_answered_event_counts_towards_the_quorum_but_never_starts_it(
    store_for,
):
    store = store_for(quorum=2)

    store.answered("leg-1", None)
    waiting = store.waiting_for_quorum()
    role = store.joined("leg-2", None)

    assert waiting is True
    assert role == "start"
    assert store.joined("leg-1", None) == "join"  # a retried answer webhook comes too late


def test_an_answered_event_forgets_expired_legs_and_their_round(store_for, monkeypatch):
    store = store_for(quorum=2)
    store.joined("leg-1", None)
    store.joined("leg-2", None)  # starts the round
    later = time.time() + conference_store.LEG_LIFETIME + 1
    monkeypatch.setattr(time, "time", lambda: later)

    store.answered("leg-3", None)

    assert uuids(store) == ["leg-3"]
    assert store.joined("leg-4", None) == "start"  # a new round, leg-3 counted in it


def test_legs_recorded_by_answered_events_are_bounded_like_every_leg(store_for, monkeypatch):
    monkeypatch.setattr(conference_store.base, "MAX_LEGS", 20)
    store = store_for()

    for n in range(25):
        store.answered(f"leg-{n:02d}", None)

    assert uuids(store) == [f"leg-{n:02d}" for n in range(5, 25)]


def test_answers_and_answered_events_at_once_record_each_leg_once_with_one_role(store_for):
    answers, events = store_for(quorum=4), store_for(quorum=4)  # two processes
    roles, recorded, gate = {}, {}, threading.Barrier(16)

    def deliver(n):
        uuid = f"leg-{n // 2}"  # each leg: its answer webhook and its answered event
        gate.wait()
        if n % 2:
            recorded[uuid] = events.answered(uuid, None)
        else:
            roles[uuid] = answers.joined(uuid, None)

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    legs = {leg["uuid"]: leg["role"] for leg in answers.snapshot()["legs"]}
    assert legs == roles  # one leg each, with the role its answer was given
    assert all(legs[uuid] == "join" for uuid, new in recorded.items() if new)
    assert list(legs.values()).count("start") <= 1


def test_no_leftovers_in_a_new_store(store_for):
    assert store_for().leftovers() == (0, None)


def test_leftovers_are_the_live_legs_and_the_oldest_ones_start(store_for, monkeypatch):
    store = store_for()
    store.joined("leg-1", None)
    first = store.snapshot()["legs"][0]["since"]
    store.answered("leg-2", None)
    store.joined("leg-3", None)
    store.left("leg-3")

    counted = store.leftovers()
    later = time.time() + conference_store.LEG_LIFETIME + 1
    monkeypatch.setattr(time, "time", lambda: later)

    assert counted == (2, first)
    assert store.leftovers() == (0, None)  # expired legs are not left over


def test_forgetting_the_legs_forgets_them_the_music_and_the_round_in_every_process(store_for):
    store, other_process = store_for(quorum=2), store_for(quorum=2)
    store.joined("leg-1", None)
    store.joined("leg-2", None)  # starts the round
    store.set_streaming("leg-2")

    forgotten = store.forget_legs()

    assert forgotten == 2
    assert other_process.snapshot() == {
        "legs": [],
        "streaming_on": None,
        "music_note": None,
        "quorum": 2,
        "waiting_for_quorum": False,
    }
    assert other_process.joined("leg-3", None) == "wait"  # a new round
    assert store.forget_legs() == 1


def test_forgetting_the_legs_of_one_conference_leaves_the_others_alone(store_for):
    board, standup = store_for(conference="Board"), store_for(conference="Stand-up")
    board.joined("leg-1", None)
    standup.joined("leg-2", None)

    assert board.forget_legs() == 1

    assert uuids(board) == []
    assert uuids(standup) == ["leg-2"]


def test_forgetting_the_legs_of_an_empty_store_forgets_none(store_for):
    assert store_for().forget_legs() == 0
