"""POST /talk speaks words into the conference through the leg /stream would use; POST
/talk/stop stops them."""

import pytest
import requests

TOKEN = "talk-owner-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server(serve_scenario_2):
    """Scenario 2 as a process, with a control token and the fake Voice API."""
    return serve_scenario_2(CONTROL_TOKEN=TOKEN)


def post(server, path, **json):
    return requests.post(f"{server.base}{path}", json=json, headers=AUTH, timeout=20)


def test_talk_speaks_into_the_newest_leg_in_its_language_then_stops(server, fake_api):
    server.get("/webhooks/answer?uuid=leg-1")
    server.get("/webhooks/answer?uuid=leg-2")

    said = post(server, "/talk", text="  We start in two minutes.  ", language="en-GB")
    stopped = post(server, "/talk/stop")

    assert (said.status_code, said.json()) == (
        200,
        {"message": "speaking into the conference", "uuid": "leg-2"},
    )
    assert (stopped.status_code, stopped.json()) == (
        200,
        {"message": "stopped speaking", "uuid": "leg-2"},
    )
    assert fake_api.talks == [
        ("PUT", "leg-2", {"text": "We start in two minutes.", "language": "en-GB"}, None),
        ("DELETE", "leg-2", None, None),
    ]
    assert fake_api.requests == []  # the music is left alone


def test_talk_goes_through_the_leg_the_music_plays_on_and_past_a_leg_that_is_gone(server, fake_api):
    for uuid in ("leg-1", "leg-2", "leg-3"):
        server.get(f"/webhooks/answer?uuid={uuid}")
    fake_api.fault, fake_api.faults_for = 404, {"leg-3"}

    said = post(server, "/talk", text="Hello")

    assert said.json()["uuid"] == "leg-2"
    assert [(method, uuid) for method, uuid, *_ in fake_api.talks] == [
        ("PUT", "leg-3"),
        ("PUT", "leg-2"),
    ]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, "give text to say: 1 to 1,500 characters"),
        ({"text": "   "}, "give text to say: 1 to 1,500 characters"),
        ({"text": "x" * 1501}, "give text to say: 1 to 1,500 characters"),
        ({"text": ["a list"]}, "give text to say: 1 to 1,500 characters"),
        (
            {"text": "Hi", "language": ["en-GB"]},
            "give a language Vonage speaks, such as en-GB or es-ES, or none for en-US",
        ),
        (
            {"text": "Hi", "language": "english"},
            "give a language Vonage speaks, such as en-GB or es-ES, or none for en-US",
        ),
    ],
)
def test_talk_refuses_bad_text_or_language_with_400(client2, fields, error):
    client2.get("/webhooks/answer?uuid=leg-1")

    response = client2.post("/talk", json=fields)

    assert (response.status_code, response.get_json()) == (400, {"error": error})


def test_talk_with_a_json_list_is_400(client2):
    client2.get("/webhooks/answer?uuid=leg-1")

    response = client2.post("/talk", json=["text", "Hi"])

    assert response.status_code == 400


def test_talk_takes_a_form_too(client2, requests_mock):
    client2.get("/webhooks/answer?uuid=leg-1")
    answer = {"message": "Talk started", "uuid": "leg-1"}
    put = requests_mock.put("https://api.nexmo.com/v1/calls/leg-1/talk", json=answer)

    response = client2.post("/talk", data={"text": "Hola", "language": "es-ES"})

    assert response.status_code == 200
    assert put.last_request.json() == {"text": "Hola", "language": "es-ES"}


def test_talk_with_no_one_in_is_409(client2):
    response = client2.post("/talk", json={"text": "Hello?"})

    assert (response.status_code, response.get_json()) == (
        409,
        {"error": "no one is in the conference yet: dial your Vonage number first"},
    )


def test_talk_and_its_stop_need_the_token(server, fake_api):
    server.get("/webhooks/answer?uuid=leg-1")

    refused = [
        requests.post(f"{server.base}{path}", json={"text": "Hi"}, timeout=5).status_code
        for path in ("/talk", "/talk/stop")
    ]

    assert refused == [401, 401]
    assert fake_api.talks == []


def test_talk_stop_with_nothing_said_is_409(server, fake_api):
    server.get("/webhooks/answer?uuid=leg-1")
    fake_api.fault = 404

    stopped = post(server, "/talk/stop")

    assert (stopped.status_code, stopped.json()) == (
        409,
        {"error": "Vonage is saying nothing on that call: nothing to stop"},
    )
