"""The music follows the conference: when the leg it plays on ends, it starts again on the
newest live leg, once, however many processes share the store and however often Vonage
delivers the event; and only while it is meant to be playing."""

import threading
import time

import pytest
import requests

import conference_store

LEGS = ("leg-1", "leg-2", "leg-3")


def hang_up(server, uuid):
    """Vonage's event webhook for a leg that has ended; its answer's time in seconds."""
    started = time.monotonic()
    response = requests.post(
        f"{server.base}/webhooks/event", json={"uuid": uuid, "status": "completed"}, timeout=5
    )
    assert response.status_code == 200
    return time.monotonic() - started


def puts(fake_api):
    return [uuid for method, uuid, _, _ in fake_api.requests if method == "PUT"]


def wait_for(check, seconds=2.0):
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(0.02)
    return check()


@pytest.fixture
def two_servers(serve_scenario_2, tmp_path):
    """Two scenario 2 processes sharing one SQLite store, with three callers in and the music
    started on the newest (leg-3) with `settings`."""

    def start(**settings):
        url = f"sqlite:///{tmp_path}/shared.sqlite3"
        servers = [serve_scenario_2(STATE_URL=url, **settings) for _ in range(2)]
        for uuid in LEGS:
            servers[0].get(f"/webhooks/answer?uuid={uuid}&from=447700900001")
        assert servers[1].get("/stream").json()["uuid"] == "leg-3"
        return servers

    return start


def test_the_music_follows_a_hang_up_once_when_two_processes_get_the_event_twice(
    two_servers, fake_api
):
    servers = two_servers(STREAM_LOOP="0")
    fake_api.delay = 1.5  # Vonage is slow: the event webhooks must not wait for it
    answers = []
    threads = [
        threading.Thread(target=lambda s=server: answers.append(hang_up(s, "leg-3")))
        for server in servers * 2
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert max(answers) < 1
    assert wait_for(lambda: puts(fake_api) == ["leg-3", "leg-2"])
    time.sleep(1.7)  # any second stream would have arrived by now
    assert puts(fake_api) == ["leg-3", "leg-2"]
    assert fake_api.requests[-1][2] == {
        "stream_url": [fake_api.requests[0][2]["stream_url"][0]],
        "loop": 0,
    }
    assert all(problem is None for *_, problem in fake_api.requests)
    assert servers[0].get("/status").json()["streaming_on"] == "leg-2"
    fake_api.delay = 0
    assert servers[0].get("/stream/stop").json()["uuid"] == "leg-2"  # Stop reaches it there


def test_no_music_follows_after_stop(two_servers, fake_api):
    servers = two_servers(STREAM_LOOP="0")
    servers[0].get("/stream/stop")

    hang_up(servers[1], "leg-3")

    time.sleep(0.5)
    assert puts(fake_api) == ["leg-3"]


def test_a_remote_file_played_a_set_number_of_times_ends_with_its_caller(two_servers, fake_api):
    servers = two_servers(STREAM_LOOP="2")

    hang_up(servers[1], "leg-3")

    time.sleep(0.5)
    status = servers[0].get("/status").json()
    assert puts(fake_api) == ["leg-3"]
    assert (status["streaming_on"], status["music_note"]) == (
        None,
        conference_store.ENDED_WITH_ITS_CALLER,
    )


def test_a_local_file_follows_while_its_loops_last_with_the_loops_left(two_servers, fake_api):
    servers = two_servers(
        STREAM_URL="audio/hold.mp3", STREAM_LOOP="3", PUBLIC_URL="https://a.example"
    )

    hang_up(servers[1], "leg-3")

    assert wait_for(lambda: puts(fake_api) == ["leg-3", "leg-2"])
    body = fake_api.requests[-1][2]
    assert body == {"stream_url": ["https://a.example/audio/hold.mp3"], "loop": 3}


def test_a_new_leg_that_is_gone_passes_the_music_to_the_next(two_servers, fake_api):
    servers = two_servers(STREAM_LOOP="0")
    fake_api.fault, fake_api.faults_for = 404, {"leg-2"}

    hang_up(servers[0], "leg-3")

    assert wait_for(lambda: puts(fake_api) == ["leg-3", "leg-2", "leg-1"])
    status = servers[1].get("/status").json()
    assert status["streaming_on"] == "leg-1"
    assert [leg["uuid"] for leg in status["legs"]] == ["leg-1"]


def test_when_vonage_fails_the_status_says_the_music_could_not_follow(two_servers, fake_api):
    servers = two_servers(STREAM_LOOP="0")
    fake_api.fault = 500

    hang_up(servers[0], "leg-3")

    assert wait_for(lambda: servers[1].get("/status").json()["music_note"] is not None)
    status = servers[1].get("/status").json()
    assert status["streaming_on"] is None
    assert status["music_note"] == (
        "the music could not follow to leg leg-2: the Voice API failed (500): try again in a moment"
    )
