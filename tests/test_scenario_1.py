"""Scenario 1: the answer webhook streams audio to the caller; the event webhook logs."""

import logging

import pytest
from ncco import assert_valid_ncco

import settings as config

DEFAULT_NCCO = [{"action": "stream", "streamUrl": [config.DEFAULT_STREAM_URL]}]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_answer_webhook_returns_the_stream_ncco_for_either_method(client1, method):
    response = client1.open(
        "/webhooks/answer?uuid=leg-1&from=447700900000", method=method, json={"uuid": "leg-1"}
    )

    assert response.status_code == 200
    assert response.get_json() == DEFAULT_NCCO
    assert_valid_ncco(response.get_json())


def test_answer_webhook_includes_level_and_loop_only_when_set(scenario1):
    settings = config.Settings(
        stream_url="https://example.com/hold.wav", stream_level=-0.5, stream_loop=0
    )
    client = scenario1.create_app(settings).test_client()

    ncco = client.get("/webhooks/answer").get_json()

    assert ncco == [
        {
            "action": "stream",
            "streamUrl": ["https://example.com/hold.wav"],
            "level": -0.5,
            "loop": 0,
        }
    ]
    assert_valid_ncco(ncco)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b"\xff\xfe", b'{"uuid": 5, "status": []}']
)
def test_answer_webhook_answers_a_caller_whatever_the_body_holds(client1, body):
    response = client1.post("/webhooks/answer", data=body, content_type="application/json")

    assert response.status_code == 200
    assert response.get_json() == DEFAULT_NCCO


def test_event_webhook_logs_status_and_leg_for_a_get(client1, caplog):
    caplog.set_level(logging.INFO)

    response = client1.get("/webhooks/event?uuid=leg-1&status=ringing")

    assert response.status_code == 200
    assert "event ringing for leg leg-1" in caplog.messages


def test_event_webhook_logs_the_type_of_an_event_without_status(client1, caplog):
    caplog.set_level(logging.INFO)

    response = client1.post("/webhooks/event", json={"type": "transfer", "uuid": "leg-1"})

    assert response.status_code == 200
    assert "event transfer for leg leg-1" in caplog.messages


@pytest.mark.parametrize("body", [b"status=completed", b"[]", b'"completed"', b"\xff"])
def test_event_webhook_refuses_a_body_that_is_not_a_json_object_with_400(client1, body):
    response = client1.post("/webhooks/event", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.get_json() == {
        "error": "the request body must be a JSON object, as Vonage sends with POST"
    }


def test_event_webhook_accepts_fields_of_the_wrong_type_without_crashing(client1, caplog):
    caplog.set_level(logging.INFO)

    response = client1.post("/webhooks/event", json={"uuid": 5, "status": ["completed"]})

    assert response.status_code == 200
    assert "event unknown event for leg ?" in caplog.messages


def test_unknown_route_is_a_json_404(client1):
    response = client1.get("/nope")

    assert response.status_code == 404
    assert "error" in response.get_json()


@pytest.mark.parametrize(
    ("greeting", "language", "first"),
    [
        ("Welcome!", None, {"action": "talk", "text": "Welcome!"}),
        (
            "¡Bienvenidos!",
            "es-ES",
            {"action": "talk", "text": "¡Bienvenidos!", "language": "es-ES"},
        ),
        (
            "https://a.example/audio/hello.wav",
            None,
            {"action": "stream", "streamUrl": ["https://a.example/audio/hello.wav"]},
        ),
    ],
)
def test_a_greeting_comes_before_the_music(scenario1, greeting, language, first):
    settings = config.Settings(greeting=greeting, greeting_language=language)
    client = scenario1.create_app(settings).test_client()

    ncco = client.get("/webhooks/answer").get_json()

    assert ncco == [first, *DEFAULT_NCCO]
    assert_valid_ncco(ncco)


def test_a_local_file_is_streamed_from_the_public_url(scenario1):
    settings = config.load({"STREAM_URL": "audio/hold.mp3", "PUBLIC_URL": "https://a.example"})
    client = scenario1.create_app(settings).test_client()

    ncco = client.get("/webhooks/answer").get_json()

    assert ncco == [{"action": "stream", "streamUrl": ["https://a.example/audio/hold.mp3"]}]
