"""Scenario 2's state in STATE_URL's store: shared by processes, kept across `kill -9`, and a
store that is down never drops a caller and never gives a 500."""

import importlib
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from conftest import APPLICATION_ID

import settings as config
from testing.processes import free_port, run

TALK = {"action": "talk", "text": "Please wait while we connect you to the conference"}
JOIN = [TALK, {"action": "conversation", "name": "Soothing Conference"}]
API = "https://api.nexmo.com/v1/calls"


def role_of(ncco):
    """How an answer NCCO joins the caller: "join", "wait" or "start"."""
    conversation = ncco[-1]
    if "startOnEnter" not in conversation:
        return "join"
    return "start" if conversation["startOnEnter"] else "wait"


# A store that is down, through the routes (Flask's test client).


@pytest.fixture
def redis_app(scenario2, settings2, redis_url):
    """Scenario 2 with QUORUM=3 on the real Redis."""
    settings = config.Settings(**{**vars(settings2), "state_url": redis_url, "quorum": 3})
    return scenario2.create_app(settings)


@pytest.fixture(params=["stopped", "hung"])
def redis_down(request, redis_server, redis_app):
    """Redis stopped (connections refused), or frozen with SIGSTOP (connections hang)."""
    redis_app.test_client().get("/webhooks/answer?uuid=leg-1")  # connected before it fails
    if request.param == "stopped":
        redis_server.stop()
    else:
        redis_server.pause()
    yield redis_server.url
    redis_server.resume()


def test_with_the_store_down_a_caller_still_joins_within_a_second_and_a_warning_names_it(
    redis_app, redis_down, caplog
):
    started = time.monotonic()
    response = redis_app.test_client().get("/webhooks/answer?uuid=leg-2&from=447700900002")
    took = time.monotonic() - started

    assert response.status_code == 200
    assert response.get_json() == JOIN  # the plain join, though QUORUM is set
    assert took < 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warning.startswith(
        f"leg leg-2 joins without the store's word: the conference store at {redis_down}"
    )
    assert importlib.import_module("scenario-2").JOINED_UNRECORDED in warning  # bench counts it


def test_with_the_store_down_an_ended_call_answers_503_so_vonage_retries_it(redis_app, redis_down):
    client = redis_app.test_client()

    ended = client.post("/webhooks/event", json={"uuid": "leg-1", "status": "completed"})
    ringing = client.post("/webhooks/event", json={"uuid": "leg-1", "status": "ringing"})

    assert ended.status_code == 503
    assert ended.get_json()["error"].startswith(f"the conference store at {redis_down}")
    assert ringing.status_code == 200  # nothing to record


@pytest.mark.parametrize("path", ["/status", "/stream", "/stream/stop", "/healthz"])
def test_with_the_store_down_the_owner_routes_and_health_answer_503_naming_it(
    redis_app, redis_down, requests_mock, path
):
    started = time.monotonic()
    response = redis_app.test_client().get(path)
    took = time.monotonic() - started

    assert response.status_code == 503
    assert f"the conference store at {redis_down}" in response.get_json()["error"]
    assert (
        "check that Redis is running and reachable, and STATE_URL" in response.get_json()["error"]
    )
    assert took < 3
    assert requests_mock.call_count == 0


def test_when_redis_comes_back_the_same_app_serves_normally(redis_app, redis_server, redis_url):
    client = redis_app.test_client()
    client.get("/webhooks/answer?uuid=leg-1")
    redis_server.stop()
    assert client.get("/status").status_code == 503

    redis_server.start()  # empty: the tests' Redis keeps nothing on disk

    assert client.get("/healthz").get_json() == {"status": "ok"}  # the probe finds it back
    assert role_of(client.get("/webhooks/answer?uuid=leg-2").get_json()) == "wait"
    assert [leg["uuid"] for leg in client.get("/status").get_json()["legs"]] == ["leg-2"]


def test_an_sqlite_store_locked_by_a_hung_process_never_drops_a_caller(app2, settings2):
    client = app2.test_client()
    client.get("/webhooks/answer?uuid=leg-1")
    hung = sqlite3.connect(config.conference_store.sqlite_path(settings2.state_url))
    hung.isolation_level = None
    hung.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        answer = client.get("/webhooks/answer?uuid=leg-2")
        took = time.monotonic() - started
        ended = client.post("/webhooks/event", json={"uuid": "leg-1", "status": "completed"})
        health = client.get("/healthz")
    finally:
        hung.execute("ROLLBACK")
        hung.close()

    assert (answer.status_code, answer.get_json(), took < 1) == (200, JOIN, True)
    assert ended.status_code == 503 and "database is locked" in ended.get_json()["error"]
    assert health.status_code == 503
    assert client.get("/healthz").status_code == 200  # the lock is gone
    assert (
        client.post("/webhooks/event", json={"uuid": "leg-1", "status": "completed"}).status_code
        == 200
    )


def test_music_started_through_one_app_is_stopped_through_another_on_the_same_store(
    scenario2, settings2, requests_mock
):
    first, second = (scenario2.create_app(settings2).test_client() for _ in range(2))
    first.get("/webhooks/answer?uuid=leg-1&region_url=https://api-us-3.vonage.com")
    region = "https://api-us-3.vonage.com/v1/calls/leg-1/stream"
    requests_mock.put(region, json={"message": "Stream started", "uuid": "leg-1"})
    requests_mock.delete(region, json={"message": "Stream stopped", "uuid": "leg-1"})

    assert second.get("/stream").get_json()["uuid"] == "leg-1"
    assert first.get("/status").get_json()["streaming_on"] == "leg-1"
    assert first.get("/stream/stop").status_code == 200

    assert [(r.method, r.url) for r in requests_mock.request_history] == [
        ("PUT", region),
        ("DELETE", region),
    ]
    assert second.get("/status").get_json()["streaming_on"] is None


# Real processes sharing one store.


@pytest.fixture(params=["sqlite", "redis"])
def store_setting(request):
    """STATE_URL for the processes: unset (the default SQLite file in the project folder,
    which both processes share), or the real Redis."""
    if request.param == "sqlite":
        return {}
    return {"STATE_URL": request.getfixturevalue("redis_url")}


def call(server, uuid, caller="447700900001"):
    return requests.get(
        f"{server.base}/webhooks/answer", params={"uuid": uuid, "from": caller}, timeout=5
    )


def hang_up(server, uuid):
    return requests.post(
        f"{server.base}/webhooks/event", json={"uuid": uuid, "status": "completed"}, timeout=5
    )


def status(server):
    return requests.get(f"{server.base}/status", timeout=5).json()


def test_two_processes_on_one_store_behave_as_one_server(serve_scenario_2, store_setting, fake_api):
    one, two = (serve_scenario_2(**store_setting) for _ in range(2))

    call(one, "leg-1")
    call(two, "leg-2")
    played = requests.get(f"{two.base}/stream", timeout=20).json()

    assert played["uuid"] == "leg-2"
    assert status(one) == status(two)
    assert [leg["uuid"] for leg in status(one)["legs"]] == ["leg-1", "leg-2"]
    assert status(one)["streaming_on"] == "leg-2"
    assert requests.get(f"{one.base}/stream/stop", timeout=20).json()["uuid"] == "leg-2"
    hang_up(one, "leg-2")
    assert [leg["uuid"] for leg in status(two)["legs"]] == ["leg-1"]
    assert [(method, uuid) for method, uuid, _, _ in fake_api.requests] == [
        ("PUT", "leg-2"),
        ("DELETE", "leg-2"),
    ]


def test_twelve_callers_at_once_through_two_processes_make_exactly_one_quorum(
    serve_scenario_2, store_setting
):
    servers = [serve_scenario_2(QUORUM="3", **store_setting) for _ in range(2)]

    for round_number in range(3):
        legs = [f"round-{round_number}-leg-{n}" for n in range(12)]
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(call, [servers[n % 2] for n in range(12)], legs))
        nccos = [answer.json() for answer in answers]
        roles = sorted(role_of(ncco) for ncco in nccos)
        # A retried answer webhook gets the same answer, through either process.
        again = [role_of(call(servers[(n + 1) % 2], legs[n]).json()) for n in range(12)]
        for n in range(12):
            hang_up(servers[n % 2], legs[n])

        assert roles == ["join"] * 9 + ["start"] + ["wait"] * 2
        assert again == [role_of(ncco) for ncco in nccos]
    assert status(servers[0])["legs"] == []


def test_kill_9_of_every_process_then_a_restart_loses_nothing(
    serve_scenario_2, store_setting, fake_api
):
    settings = {"QUORUM": "3", **store_setting}
    one, two = serve_scenario_2(**settings), serve_scenario_2(**settings)
    call(one, "leg-1")
    call(two, "leg-2")
    call(one, "leg-3")  # the quorum: the conference has started
    requests.get(f"{two.base}/stream", timeout=20)
    before = status(one)

    one.kill()
    two.kill()
    again = serve_scenario_2(**settings)

    assert status(again) == before
    assert before["streaming_on"] == "leg-3" and before["waiting_for_quorum"] is False
    assert role_of(call(again, "leg-4").json()) == "join"  # the same round goes on
    assert requests.get(f"{again.base}/stream/stop", timeout=20).json()["uuid"] == "leg-3"


def test_a_process_whose_redis_hangs_answers_callers_within_a_second_and_recovers(
    serve_scenario_2, redis_server, redis_url
):
    server = serve_scenario_2(STATE_URL=redis_url, QUORUM="2")
    call(server, "leg-1")
    redis_server.pause()
    try:
        started = time.monotonic()
        answer = call(server, "leg-2")
        took = time.monotonic() - started
        ended = hang_up(server, "leg-1")
        state = requests.get(f"{server.base}/status", timeout=5)
        health = requests.get(f"{server.base}/healthz", timeout=5)
    finally:
        redis_server.resume()

    assert (answer.status_code, answer.json(), took < 1) == (200, JOIN, True)
    assert ended.status_code == 503
    assert state.status_code == 503 and redis_url in state.json()["error"]
    assert health.status_code == 503
    assert requests.get(f"{server.base}/healthz", timeout=5).status_code == 200
    assert hang_up(server, "leg-1").status_code == 200  # Vonage's retry, once Redis is back
    printed = server.stop()
    assert "Traceback" not in printed
    joined = f"leg leg-2 joins without the store's word: the conference store at {redis_url}"
    assert joined in printed


def test_gunicorn_with_two_workers_shows_one_conference_from_every_worker(
    serve, key_file, store_setting
):
    server = serve(
        "-m",
        "gunicorn",
        "scenario-2:create_app()",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        WEB_CONCURRENCY="2",
        QUORUM="4",
        **store_setting,
    )
    with ThreadPoolExecutor(8) as pool:
        nccos = list(pool.map(lambda n: call(server, f"leg-{n}").json(), range(8)))
        views = list(pool.map(lambda _: status(server), range(40)))

    assert sorted(role_of(ncco) for ncco in nccos) == ["join"] * 4 + ["start"] + ["wait"] * 3
    assert all(view == views[0] for view in views)
    assert len(views[0]["legs"]) == 8
    printed = server.stop()
    assert printed.count("Booting worker") == 2
    assert printed.count("Scenario 2: in the Vonage dashboard") == 1


def test_a_redis_that_cannot_be_reached_stops_start_up_with_one_line_within_10_seconds(
    project, key_file
):
    started = time.monotonic()
    result = run(
        project,
        "scenario-2.py",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        STATE_URL="redis://:hunter2-secret@127.0.0.1:9/0",
        PORT=str(free_port()),  # 9000 may be taken: the store must be what stops it
    )

    assert time.monotonic() - started < 10
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("STATE_URL: the conference store at redis://:***@127.0.0.1:9/0 failed")
    assert line.endswith(
        "check that Redis is running and reachable, and STATE_URL (see .env.example)"
    )
    assert "hunter2" not in result.stdout + result.stderr


def test_a_state_url_of_another_kind_stops_start_up_without_showing_its_password(project, key_file):
    result = run(
        project,
        "scenario-2.py",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        STATE_URL="postgres://app:hunter2-secret@db/calls",
    )

    assert result.returncode == 2
    assert result.stderr.startswith("STATE_URL='postgres://app:***@db/calls' is not allowed: give ")
    assert "hunter2" not in result.stdout + result.stderr


def test_the_default_store_is_a_file_in_the_project_folder_named_in_the_banner(
    serve_scenario_2, project
):
    server = serve_scenario_2()
    call(server, "leg-1")

    printed = server.stop()

    assert f"state in the SQLite file {project}/conference.sqlite3" in printed
    assert (project / "conference.sqlite3").exists()


def test_a_signed_webhook_replayed_to_another_process_is_refused(serve_scenario_2, store_setting):
    secret = "a-signature-secret-of-32-chars-or-more"
    one, two = (serve_scenario_2(VONAGE_SIGNATURE_SECRET=secret, **store_setting) for _ in "12")
    fields = {"uuid": "leg-1", "from": "447700900001"}
    # A GET token without payload_hash covers no field: only replay protection stops its reuse.
    claims = {"iat": int(time.time()), "application_id": APPLICATION_ID}
    signed = {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}

    first = requests.get(f"{one.base}/webhooks/answer", params=fields, headers=signed, timeout=5)
    retried = requests.get(f"{two.base}/webhooks/answer", params=fields, headers=signed, timeout=5)
    forged = {**fields, "uuid": "leg-666"}
    replayed = requests.get(f"{two.base}/webhooks/answer", params=forged, headers=signed, timeout=5)
    hangup = {"uuid": "leg-1", "status": "completed"}
    replayed_event = requests.get(
        f"{two.base}/webhooks/event", params=hangup, headers=signed, timeout=5
    )

    # The replayed answer connects its caller (never dropped) but records nothing.
    assert [r.status_code for r in (first, retried, replayed, replayed_event)] == [200] * 3 + [401]
    assert [leg["uuid"] for leg in two.get("/status").json()["legs"]] == ["leg-1"]
    assert two.stop().count("token reused for another request") == 2


def test_music_that_started_but_could_not_be_recorded_says_so(app2, settings2, requests_mock):
    client = app2.test_client()
    client.get("/webhooks/answer?uuid=leg-1")
    hung = sqlite3.connect(config.conference_store.sqlite_path(settings2.state_url))
    hung.isolation_level = None

    def started_then_the_store_hangs(request, context):
        hung.execute("BEGIN EXCLUSIVE")
        return {"message": "Stream started", "uuid": "leg-1"}

    requests_mock.put(f"{API}/leg-1/stream", json=started_then_the_store_hangs)
    try:
        response = client.get("/stream")
    finally:
        hung.execute("ROLLBACK")
        hung.close()

    assert response.status_code == 503
    assert response.get_json()["error"].startswith(
        "the music plays on leg leg-1, but it was not recorded: the conference store sqlite:///"
    )


def event(server, uuid, status):
    return requests.post(
        f"{server.base}/webhooks/event", json={"uuid": uuid, "status": status}, timeout=5
    )


def test_a_caller_answered_while_redis_was_down_is_recorded_by_their_answered_event(
    serve_scenario_2, redis_server, redis_url, fake_api
):
    server = serve_scenario_2(STATE_URL=redis_url)
    redis_server.stop()  # not paused: a paused Redis still runs the write when it wakes
    try:
        answer = call(server, "leg-1")
    finally:
        redis_server.start()  # empty: the tests' Redis keeps nothing on disk
    # Vonage sends the event after the answer, and again while we answer 503.
    deadline = time.monotonic() + 10
    while (answered := event(server, "leg-1", "answered")).status_code == 503:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    again = event(server, "leg-1", "answered")  # delivered twice: recorded once

    assert answer.status_code == answered.status_code == again.status_code == 200
    assert [(leg["uuid"], leg["role"]) for leg in status(server)["legs"]] == [("leg-1", "join")]
    assert requests.get(f"{server.base}/stream", timeout=20).json()["uuid"] == "leg-1"
    assert [(method, uuid) for method, uuid, _, _ in fake_api.requests] == [("PUT", "leg-1")]
    assert server.stop().count("leg leg-1 recorded from its answered event") == 1


def test_ringing_and_started_events_before_the_answer_leave_the_quorum_role_alone(
    serve_scenario_2,
):
    server = serve_scenario_2(QUORUM="2")

    for status_before in ("started", "ringing"):
        assert event(server, "leg-1", status_before).status_code == 200
    first = call(server, "leg-1").json()
    assert event(server, "leg-1", "answered").status_code == 200

    assert role_of(first) == "wait"
    assert [(leg["uuid"], leg["role"]) for leg in status(server)["legs"]] == [("leg-1", "wait")]
    assert role_of(call(server, "leg-2").json()) == "start"


def test_the_banner_names_legs_left_from_an_earlier_run_and_forget_legs_clears_them(
    serve_scenario_2, store_setting, project, key_file
):
    first = serve_scenario_2(**store_setting)
    call(first, "leg-1")
    call(first, "leg-2")
    first.stop()

    again = serve_scenario_2(**store_setting)
    printed = again.stop()
    forget = run(
        project,
        "scenario-2.py",
        "--forget-legs",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        **store_setting,
    )
    after = serve_scenario_2(**store_setting)

    assert (
        "The store already holds 2 live leg(s), the oldest from 0 min ago: from an earlier run, "
        "or other processes that share it. If those calls are over, forget them: "
        ".venv/bin/python scenario-2.py --forget-legs"
    ) in printed
    assert (forget.returncode, forget.stderr) == (0, "")
    assert forget.stdout.startswith("Forgot 2 live leg(s) of 'Soothing Conference' in ")
    assert status(after)["legs"] == []
    assert "already holds" not in after.stop()
