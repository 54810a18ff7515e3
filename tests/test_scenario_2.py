"""Scenario 2: callers join a conference, /stream plays music into it through the Voice API."""

import logging

import jwt
import pytest
import requests
from conftest import APPLICATION_ID, live_legs, streaming_on
from ncco import assert_valid_ncco
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

import settings as config
import voice_api

NCCO = [
    {"action": "talk", "text": "Please wait while we connect you to the conference"},
    {"action": "conversation", "name": "Soothing Conference"},
]
API = "https://api.nexmo.com/v1/calls"


def join(client, uuid, caller="447700900001"):
    """Vonage's answer webhook for a new caller, sent by GET as Vonage does by default."""
    return client.get(f"/webhooks/answer?uuid={uuid}&from={caller}&to=447700900000")


def hang_up(client, uuid, status="completed"):
    return client.post("/webhooks/event", json={"uuid": uuid, "status": status})


def stream_answer(requests_mock, uuid, status=200, **kwargs):
    """Fake the Voice API's answer to PUT /v1/calls/{uuid}/stream."""
    if "exc" not in kwargs:
        kwargs.setdefault("json", {"message": "Stream started", "uuid": uuid})
        kwargs["status_code"] = status
    return requests_mock.put(f"{API}/{uuid}/stream", **kwargs)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_answer_webhook_greets_then_joins_the_conference_and_remembers_the_leg(
    client2, conference, method
):
    response = client2.open(
        "/webhooks/answer?uuid=leg-1&from=447700900001",
        method=method,
        json={"uuid": "leg-1", "from": "447700900001"},
    )

    assert response.status_code == 200
    assert response.get_json() == NCCO
    assert_valid_ncco(response.get_json())
    assert list(live_legs(conference)) == ["leg-1"]
    assert live_legs(conference)["leg-1"]["from"] == "447700900001"


@pytest.mark.parametrize(
    ("env", "first"),
    [
        (
            {"GREETING": "Bienvenue", "GREETING_LANGUAGE": "fr-FR"},
            {"action": "talk", "text": "Bienvenue", "language": "fr-FR"},
        ),
        (
            {"GREETING_LANGUAGE": "en-GB"},
            {"action": "talk", "text": NCCO[0]["text"], "language": "en-GB"},
        ),
        (
            {"GREETING": "audio/hold.mp3", "PUBLIC_URL": "https://a.example"},
            {"action": "stream", "streamUrl": ["https://a.example/audio/hold.mp3"]},
        ),
        (
            {"GREETING": "https://cdn.example/welcome.mp3"},
            {"action": "stream", "streamUrl": ["https://cdn.example/welcome.mp3"]},
        ),
    ],
)
def test_a_greeting_is_spoken_in_its_language_or_played_before_the_conference(
    scenario2, settings2, env, first
):
    greeted = config.load(env)
    settings = config.Settings(
        **{
            **vars(settings2),
            "greeting": greeted.greeting,
            "greeting_language": greeted.greeting_language,
        }
    )
    client = scenario2.create_app(settings).test_client()

    ncco = client.get("/webhooks/answer?uuid=leg-1").get_json()

    assert ncco == [first, NCCO[1]]
    assert_valid_ncco(ncco)


def test_answer_webhook_names_the_conference_from_conf_name(scenario2, settings2):
    settings = config.Settings(**{**vars(settings2), "conf_name": "Board meeting"})
    client = scenario2.create_app(settings).test_client()

    ncco = client.get("/webhooks/answer?uuid=leg-1").get_json()

    assert ncco[1] == {"action": "conversation", "name": "Board meeting"}


@pytest.mark.parametrize(
    "data", [b"not json", b"[]", b'{"uuid": 5}', b'{"uuid": ""}', b"\xff", b'{"uuid": null}']
)
def test_answer_webhook_connects_the_caller_whatever_the_body_holds(client2, conference, data):
    response = client2.post("/webhooks/answer", data=data, content_type="application/json")

    assert response.status_code == 200
    assert response.get_json() == NCCO
    assert live_legs(conference) == {}


@pytest.mark.parametrize(
    "status", ["completed", "busy", "cancelled", "failed", "rejected", "timeout", "unanswered"]
)
def test_event_with_a_final_status_forgets_the_leg(client2, conference, status):
    join(client2, "leg-1")
    join(client2, "leg-2")

    response = hang_up(client2, "leg-1", status)

    assert response.status_code == 200
    assert list(live_legs(conference)) == ["leg-2"]


@pytest.mark.parametrize("status", ["started", "ringing", "answered", "human"])
def test_event_with_a_live_status_keeps_the_leg(client2, conference, status):
    join(client2, "leg-1")

    hang_up(client2, "leg-1", status)

    assert list(live_legs(conference)) == ["leg-1"]


def test_event_sent_by_get_forgets_the_leg_too(client2, conference):
    join(client2, "leg-1")

    client2.get("/webhooks/event?uuid=leg-1&status=completed")

    assert live_legs(conference) == {}


def test_event_that_is_not_json_gets_400_and_changes_nothing(client2, conference):
    join(client2, "leg-1")

    response = client2.post(
        "/webhooks/event",
        data="uuid=leg-1&status=completed",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]
    assert list(live_legs(conference)) == ["leg-1"]


def test_event_is_logged_with_status_and_leg(client2, caplog):
    caplog.set_level(logging.INFO)

    hang_up(client2, "leg-9", "busy")

    assert "event busy for leg leg-9" in caplog.messages


def test_stream_with_nobody_in_the_conference_is_409(client2, requests_mock):
    response = client2.get("/stream")

    assert response.status_code == 409
    assert response.get_json() == {
        "error": "no one is in the conference yet: dial your Vonage number first"
    }
    assert requests_mock.call_count == 0


def test_stream_sends_the_exact_request_to_the_voice_api(client2, requests_mock, rsa_key):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")

    response = client2.get("/stream")

    assert response.status_code == 200
    assert response.get_json() == {
        "message": "streaming into the conference",
        "uuid": "leg-1",
        "stream_url": config.DEFAULT_STREAM_URL,
    }
    [sent] = requests_mock.request_history
    assert sent.method == "PUT"
    assert sent.url == f"{API}/leg-1/stream"
    # The old OpenAPI file types `level` as a string; the SDK and today's API take a number.
    assert sent.json() == {"stream_url": [config.DEFAULT_STREAM_URL]}
    authorization = sent.headers["Authorization"]
    if isinstance(authorization, bytes):  # the SDK builds the header as bytes
        authorization = authorization.decode()
    scheme, token = authorization.split(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"])
    assert claims["application_id"] == APPLICATION_ID


def test_stream_sends_level_and_loop_when_set(scenario2, settings2, requests_mock):
    settings = config.Settings(
        **{
            **vars(settings2),
            "stream_url": "https://example.com/a.mp3",
            "stream_level": 0.4,
            "stream_loop": 0,
        }
    )
    client = scenario2.create_app(settings).test_client()
    join(client, "leg-1")
    stream_answer(requests_mock, "leg-1")

    client.get("/stream")

    assert requests_mock.last_request.json() == {
        "stream_url": ["https://example.com/a.mp3"],
        "level": 0.4,
        "loop": 0,
    }


def test_stream_uses_vonage_api_host_when_set(scenario2, settings2, requests_mock):
    settings = config.Settings(**{**vars(settings2), "api_host": "api-eu.vonage.com"})
    client = scenario2.create_app(settings).test_client()
    join(client, "leg-1")
    requests_mock.put(
        "https://api-eu.vonage.com/v1/calls/leg-1/stream",
        json={"message": "Stream started", "uuid": "leg-1"},
    )

    assert client.get("/stream").status_code == 200


def test_stream_plays_through_the_most_recently_answered_leg(client2, requests_mock):
    for uuid in ("leg-1", "leg-2", "leg-3"):
        join(client2, uuid)
    hang_up(client2, "leg-3")
    stream_answer(requests_mock, "leg-2")

    response = client2.get("/stream")

    assert response.get_json()["uuid"] == "leg-2"


def test_stream_forgets_a_leg_vonage_no_longer_knows_and_tries_the_next(
    client2, conference, requests_mock
):
    join(client2, "leg-1")
    join(client2, "leg-2")
    stream_answer(requests_mock, "leg-2", status=404, json={"title": "Not Found"})
    stream_answer(requests_mock, "leg-1")

    response = client2.get("/stream")

    assert response.status_code == 200
    assert response.get_json()["uuid"] == "leg-1"
    assert [r.url for r in requests_mock.request_history] == [
        f"{API}/leg-2/stream",
        f"{API}/leg-1/stream",
    ]
    assert list(live_legs(conference)) == ["leg-1"]


def test_stream_is_409_when_every_leg_has_gone(client2, conference, requests_mock):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1", status=404)

    response = client2.get("/stream")

    assert response.status_code == 409
    assert response.get_json()["error"] == (
        "Vonage says the 1 call(s) we had have ended (404): no one is in the conference yet: dial "
        "your Vonage number first; if people are still on, check VONAGE_API_HOST is their region"
    )
    assert live_legs(conference) == {}


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        (401, "VONAGE_APPLICATION_ID and the private key do not match"),
        (403, "check the application has Voice enabled"),
        (429, "rate limiting this account (429): wait a few seconds"),
        (500, "the Voice API failed (500): try again in a moment"),
        (503, "the Voice API failed (503): try again in a moment"),
    ],
)
def test_stream_explains_a_voice_api_failure_with_502_and_keeps_serving(
    client2, conference, requests_mock, status, fragment
):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1", status=status, json={"title": "Failed"})

    response = client2.get("/stream")

    assert response.status_code == 502
    assert fragment in response.get_json()["error"]
    assert list(live_legs(conference)) == ["leg-1"]
    assert streaming_on(conference) is None
    stream_answer(requests_mock, "leg-1")
    assert client2.get("/stream").status_code == 200


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        # What the SDK's retries leave behind once every attempt has timed out.
        requests.exceptions.ConnectionError(
            MaxRetryError(None, "/v1/calls/leg-1/stream", ReadTimeoutError(None, "/", "slow"))
        ),
    ],
)
def test_stream_says_504_when_the_voice_api_does_not_answer_in_time(
    client2, conference, requests_mock, error
):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1", exc=error)

    response = client2.get("/stream")

    assert response.status_code == 504
    assert response.get_json()["error"].startswith(
        "the Voice API at api.nexmo.com did not answer in time"
    )
    assert list(live_legs(conference)) == ["leg-1"]


def test_stream_says_502_when_the_voice_api_cannot_be_reached(client2, requests_mock):
    join(client2, "leg-1")
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", NewConnectionError(None, "Connection refused"))
    )
    stream_answer(requests_mock, "leg-1", exc=refused)

    response = client2.get("/stream")

    assert response.status_code == 502
    assert response.get_json()["error"] == (
        "could not reach the Voice API at api.nexmo.com (Connection refused): check the network, "
        "and VONAGE_API_HOST if you set it"
    )


def test_stream_stops_trying_legs_before_the_browser_budget_runs_out(
    scenario2, client2, requests_mock, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr(scenario2.time, "monotonic", lambda: clock[0])

    def slow_404(request, context):
        clock[0] += 5  # the first leg took 5 s to be reported gone
        context.status_code = 404
        return {}

    join(client2, "leg-1")
    join(client2, "leg-2")
    requests_mock.put(f"{API}/leg-2/stream", json=slow_404)
    stream_answer(requests_mock, "leg-1")

    response = client2.get("/stream")

    assert response.status_code == 504
    assert requests_mock.call_count == 1


def test_sdk_client_retries_and_times_out_within_the_browser_budget(scenario2, settings2):
    options = voice_api.Clients(settings2).voice().http_client.http_client_options

    assert options.timeout == voice_api.API_TIMEOUT
    assert options.max_retries == voice_api.API_RETRIES
    assert voice_api.WORST_CALL < scenario2.BROWSER_BUDGET <= 15


def test_stop_with_nothing_streaming_is_409(client2, requests_mock):
    response = client2.get("/stream/stop")

    assert response.status_code == 409
    assert response.get_json() == {
        "error": "nothing is streaming: start the music first (Play music, or /stream)"
    }
    assert requests_mock.call_count == 0


def test_stop_stops_the_stream_on_the_leg_it_was_started_on(client2, requests_mock):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")
    client2.get("/stream")
    join(client2, "leg-2")  # a newer caller must not change where the music is stopped
    requests_mock.delete(f"{API}/leg-1/stream", json={"message": "Stream stopped", "uuid": "leg-1"})

    response = client2.get("/stream/stop")

    assert response.status_code == 200
    assert response.get_json() == {"message": "stopped the stream", "uuid": "leg-1"}
    assert requests_mock.last_request.method == "DELETE"
    assert requests_mock.last_request.url == f"{API}/leg-1/stream"
    assert client2.get("/stream/stop").status_code == 409


def test_stop_after_the_streaming_caller_hung_up_is_409(client2, requests_mock):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")
    client2.get("/stream")

    hang_up(client2, "leg-1")
    response = client2.get("/stream/stop")

    assert response.status_code == 409
    assert requests_mock.call_count == 1


def test_stop_that_vonage_answers_404_is_409_and_keeps_the_leg(client2, conference, requests_mock):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")
    client2.get("/stream")
    requests_mock.delete(f"{API}/leg-1/stream", status_code=404)

    response = client2.get("/stream/stop")

    assert response.status_code == 409
    assert response.get_json()["error"] == (
        "Vonage has no stream on that call any more: nothing to stop"
    )
    assert list(live_legs(conference)) == ["leg-1"]


def test_stop_explains_a_401_with_502_and_keeps_the_music_state(client2, conference, requests_mock):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")
    client2.get("/stream")
    requests_mock.delete(f"{API}/leg-1/stream", status_code=401)

    response = client2.get("/stream/stop")

    assert response.status_code == 502
    assert "do not match" in response.get_json()["error"]
    assert streaming_on(conference) == "leg-1"


def test_a_second_play_restarts_the_music_on_its_leg_so_stop_still_reaches_it(
    client2, requests_mock
):
    join(client2, "leg-1")
    stream_answer(requests_mock, "leg-1")
    client2.get("/stream")
    join(client2, "leg-2")  # a newer caller arrives while the music plays on leg-1
    requests_mock.delete(f"{API}/leg-1/stream", json={"message": "Stream stopped", "uuid": "leg-1"})

    again = client2.get("/stream")
    stop = client2.get("/stream/stop")

    assert again.get_json()["uuid"] == "leg-1"
    assert stop.get_json() == {"message": "stopped the stream", "uuid": "leg-1"}
    assert [(r.method, r.url) for r in requests_mock.request_history] == [
        ("PUT", f"{API}/leg-1/stream"),
        ("PUT", f"{API}/leg-1/stream"),
        ("DELETE", f"{API}/leg-1/stream"),
    ]
