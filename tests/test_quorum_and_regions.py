"""Scenario 2 beyond the tutorial: hold music until a quorum, and each call's own region."""

import pytest
from ncco import assert_valid_ncco

import settings as config
import startup
import voice_api

TALK = {"action": "talk", "text": "Please wait while we connect you to the conference"}
JOIN = [TALK, {"action": "conversation", "name": "Soothing Conference"}]
WAIT = [
    TALK,
    {
        "action": "conversation",
        "name": "Soothing Conference",
        "startOnEnter": False,
        "musicOnHoldUrl": [config.DEFAULT_STREAM_URL],
    },
]
START = [TALK, {"action": "conversation", "name": "Soothing Conference", "startOnEnter": True}]


@pytest.fixture
def quorum_client(scenario2, settings2):
    """Scenario 2 with QUORUM=3."""
    app = scenario2.create_app(config.Settings(**{**vars(settings2), "quorum": 3}))
    return app.test_client()


def answer(client, uuid, **fields):
    return client.get("/webhooks/answer", query_string={"uuid": uuid, **fields}).get_json()


def hang_up(client, uuid):
    client.post("/webhooks/event", json={"uuid": uuid, "status": "completed"})


def test_without_quorum_every_caller_joins_as_in_the_tutorial(client2):
    assert [answer(client2, f"leg-{n}") for n in range(3)] == [JOIN] * 3


def test_early_callers_wait_on_hold_music_until_the_quorum_caller_starts_it(quorum_client):
    nccos = [answer(quorum_client, f"leg-{n}") for n in range(1, 5)]

    assert nccos == [WAIT, WAIT, START, JOIN]
    for ncco in nccos:
        assert_valid_ncco(ncco)


def test_a_caller_who_hangs_up_while_waiting_no_longer_counts(quorum_client):
    answer(quorum_client, "leg-1")
    answer(quorum_client, "leg-2")
    hang_up(quorum_client, "leg-1")

    assert answer(quorum_client, "leg-3") == WAIT
    assert answer(quorum_client, "leg-4") == START


def test_once_started_the_round_stays_started_until_everyone_has_gone(quorum_client):
    for n in range(1, 4):
        answer(quorum_client, f"leg-{n}")
    hang_up(quorum_client, "leg-1")
    hang_up(quorum_client, "leg-2")

    assert answer(quorum_client, "leg-4") == JOIN
    hang_up(quorum_client, "leg-3")
    hang_up(quorum_client, "leg-4")
    assert answer(quorum_client, "leg-5") == WAIT


def test_a_retried_answer_webhook_gets_the_same_answer(quorum_client):
    first = [answer(quorum_client, f"leg-{n}") for n in range(1, 4)]

    again = [answer(quorum_client, f"leg-{n}") for n in range(1, 4)]

    assert again == first == [WAIT, WAIT, START]


def test_status_says_whether_the_conference_waits_for_its_quorum(quorum_client):
    answer(quorum_client, "leg-1")
    waiting = quorum_client.get("/status").get_json()
    answer(quorum_client, "leg-2")
    answer(quorum_client, "leg-3")
    started = quorum_client.get("/status").get_json()

    assert (waiting["quorum"], waiting["waiting_for_quorum"]) == (3, True)
    assert [leg["role"] for leg in started["legs"]] == ["wait", "wait", "start"]
    assert started["waiting_for_quorum"] is False


def test_the_banner_names_the_mode(settings2):
    quorum = config.Settings(**{**vars(settings2), "quorum": 4})

    assert "mode manual" in startup.banner(settings2, "Scenario 2", voice_api=True)
    assert "mode hold music until 4 callers are in" in startup.banner(
        quorum, "Scenario 2", voice_api=True
    )


REGION = "https://api-us-3.vonage.com/v1/calls/leg-1/stream"


def test_a_call_is_controlled_through_its_own_region(client2, requests_mock):
    answer(client2, "leg-1", region_url="https://api-us-3.vonage.com")
    requests_mock.put(REGION, json={"message": "Stream started", "uuid": "leg-1"})
    requests_mock.delete(REGION, json={"message": "Stream stopped", "uuid": "leg-1"})

    assert client2.get("/stream").status_code == 200
    assert client2.get("/stream/stop").status_code == 200
    assert [(r.method, r.url) for r in requests_mock.request_history] == [
        ("PUT", REGION),
        ("DELETE", REGION),
    ]


def test_vonage_api_host_wins_over_the_region(scenario2, settings2, requests_mock):
    app = scenario2.create_app(
        config.Settings(**{**vars(settings2), "api_host": "api-eu.vonage.com"})
    )
    client = app.test_client()
    answer(client, "leg-1", region_url="https://api-us-3.vonage.com")
    requests_mock.put(
        "https://api-eu.vonage.com/v1/calls/leg-1/stream",
        json={"message": "Stream started", "uuid": "leg-1"},
    )

    assert client.get("/stream").status_code == 200


@pytest.mark.parametrize(
    "region_url",
    [
        "https://evil.example/",
        "http://api-us-3.vonage.com",
        "https://vonage.com.evil.example",
        "https://api-us-3.vonage.com/../x",
        "https://user@api-us-3.vonage.com",
        5,
    ],
)
def test_a_region_that_is_not_vonages_is_ignored_so_our_jwt_stays_home(
    client2, requests_mock, region_url
):
    client2.post("/webhooks/answer", json={"uuid": "leg-1", "region_url": region_url})
    requests_mock.put(
        "https://api.nexmo.com/v1/calls/leg-1/stream",
        json={"message": "Stream started", "uuid": "leg-1"},
    )

    assert client2.get("/stream").status_code == 200
    assert requests_mock.last_request.url.startswith("https://api.nexmo.com/")


def test_one_client_per_host_is_made_once_and_reused(settings2):
    clients = voice_api.Clients(settings2)

    us, default = clients.voice("api-us-3.vonage.com"), clients.voice()

    assert clients.voice("api-us-3.vonage.com") is us
    assert clients.voice(None) is default is not us
    assert us.http_client.api_host == "api-us-3.vonage.com"
    assert us.http_client.auth is default.http_client.auth  # one JWT for all regions


def test_control_page_names_the_conference_and_escapes_it(scenario2, settings2):
    name = "<script>alert(1)</script> & co"
    app = scenario2.create_app(config.Settings(**{**vars(settings2), "conf_name": name}))

    page = app.test_client().get("/")

    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert name not in html


def test_play_while_callers_wait_for_the_quorum_is_409_and_calls_nothing(
    quorum_client, requests_mock
):
    answer(quorum_client, "leg-1")

    response = quorum_client.get("/stream")

    assert response.status_code == 409
    assert response.get_json() == {
        "error": "the conference has not started: callers hear the hold music until 3 are in"
    }
    assert requests_mock.call_count == 0


def test_the_banner_warns_when_hold_music_is_not_an_mp3(settings2):
    wav = config.Settings(
        **{**vars(settings2), "quorum": 2, "stream_url": "https://example.com/hold.wav"}
    )

    assert "Vonage documents hold music (musicOnHoldUrl) as an MP3" in startup.banner(
        wav, "Scenario 2", voice_api=True
    )
    assert "MP3" not in startup.banner(
        config.Settings(**{**vars(settings2), "quorum": 2}), "Scenario 2", voice_api=True
    )


def test_the_page_shows_who_is_on_hold(quorum_client):
    answer(quorum_client, "leg-1")

    state = quorum_client.get("/status").get_json()

    assert [leg["role"] for leg in state["legs"]] == ["wait"]
