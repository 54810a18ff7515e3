"""Whole calls through real processes: scenario 2 against a fake Voice API over HTTPS.

The server runs as `python scenario-2.py`; the fake API checks every request's JWT against the
public key and its body against the API's schema, and misbehaves on demand. After each fault,
the server still serves and its live legs are exactly right.
"""

import hashlib
import json
import time
import uuid

import jwt
import pytest
import requests
from conftest import APPLICATION_ID

SECRET = "an-end-to-end-signature-secret-0123456789"
TOKEN = "e2e-owner-token-0123456789"


@pytest.fixture
def server(serve_scenario_2):
    """Scenario 2 as a process, calling the fake API, with signing and a control token on."""
    return serve_scenario_2(
        VONAGE_SIGNATURE_SECRET=SECRET,
        CONTROL_TOKEN=TOKEN,
        STREAM_LEVEL="0.5",
        STREAM_LOOP="0",
    )


def vonage_sends(server, path, fields, method="POST", secret=SECRET):
    """A webhook as Vonage sends it: JSON body (or query for GET), signed with the secret."""
    body = json.dumps(fields).encode() if method == "POST" else b""
    signed_payload = body or json.dumps(fields, separators=(",", ":")).encode()
    claims = {
        "iat": int(time.time()),
        "jti": str(uuid.uuid4()),
        "application_id": APPLICATION_ID,
        "payload_hash": hashlib.sha256(signed_payload).hexdigest(),
    }
    headers = {
        "Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256"),
        "Content-Type": "application/json",
    }
    return requests.request(
        method,
        server.base + path,
        data=body or None,
        headers=headers,
        params=fields if method == "GET" else None,
        timeout=5,
    )


def call_in(server, uuid):
    """A caller dials in: the answer webhook, then the answered event."""
    answer = vonage_sends(
        server, "/webhooks/answer", {"uuid": uuid, "from": "447700900001"}, method="GET"
    )
    assert answer.status_code == 200
    assert (
        vonage_sends(server, "/webhooks/event", {"uuid": uuid, "status": "answered"}).status_code
        == 200
    )


def hang_up(server, uuid):
    assert (
        vonage_sends(server, "/webhooks/event", {"uuid": uuid, "status": "completed"}).status_code
        == 200
    )


def owner(server, path):
    return requests.get(server.base + path, params={"token": TOKEN}, timeout=20)


def live_legs(server):
    return [leg["uuid"] for leg in owner(server, "/status").json()["legs"]]


def test_a_whole_call_plays_music_then_forgets_the_caller(server, fake_api):
    call_in(server, "leg-1")

    response = owner(server, "/stream")

    assert response.status_code == 200
    assert response.json()["uuid"] == "leg-1"
    assert fake_api.requests == [
        (
            "PUT",
            "leg-1",
            {
                "stream_url": [
                    "https://nexmo-community.github.io/ncco-examples/assets/"
                    "voice_api_audio_streaming.mp3"
                ],
                "loop": 0,
                "level": 0.5,
            },
            None,
        )
    ]
    assert owner(server, "/stream/stop").status_code == 200
    assert fake_api.requests[-1] == ("DELETE", "leg-1", None, None)
    hang_up(server, "leg-1")
    assert live_legs(server) == []
    assert owner(server, "/stream").status_code == 409
    assert len(fake_api.requests) == 2


@pytest.mark.parametrize(("fault", "status"), [(401, 502), (429, 502), (500, 502)])
def test_after_a_voice_api_failure_the_server_still_serves_and_keeps_its_legs(
    server, fake_api, fault, status
):
    call_in(server, "leg-1")
    fake_api.fault = fault

    assert owner(server, "/stream").status_code == status
    assert live_legs(server) == ["leg-1"]
    fake_api.fault = None
    assert owner(server, "/stream").status_code == 200


def test_a_leg_the_api_no_longer_knows_is_forgotten_and_the_next_one_plays(server, fake_api):
    call_in(server, "leg-1")
    call_in(server, "leg-2")
    fake_api.fault, fake_api.faults_for = 404, {"leg-2"}

    response = owner(server, "/stream")

    assert response.json()["uuid"] == "leg-1"
    assert live_legs(server) == ["leg-1"]


@pytest.mark.parametrize("fault", ["slow", "hang"])
def test_a_slow_or_silent_api_gets_a_504_within_15_seconds(server, fake_api, fault):
    call_in(server, "leg-1")
    fake_api.fault = fault

    started = time.monotonic()
    response = owner(server, "/stream")
    took = time.monotonic() - started

    assert response.status_code == 504
    assert took < 15
    assert [r[0] for r in fake_api.requests] == ["PUT"] * 3  # the SDK's own two retries
    assert live_legs(server) == ["leg-1"]


def test_an_api_that_is_down_gets_a_502_at_once(serve, key_file):
    server = serve(
        "scenario-2.py",
        VONAGE_APPLICATION_ID=APPLICATION_ID,
        VONAGE_PRIVATE_KEY=str(key_file),
        VONAGE_API_HOST="127.0.0.1:9",
        CONTROL_TOKEN=TOKEN,
    )
    requests.get(server.base + "/webhooks/answer?uuid=leg-1", timeout=5)

    response = owner(server, "/stream")

    assert response.status_code == 502
    assert "(Connection refused)" in response.json()["error"]
    assert live_legs(server) == ["leg-1"]


def test_forged_events_are_refused_and_a_forged_answer_only_connects_its_caller(server, fake_api):
    call_in(server, "leg-1")

    forged_answer = vonage_sends(
        server,
        "/webhooks/answer",
        {"uuid": "leg-666"},
        method="GET",
        secret="not-the-secret-but-long-enough-0123456789",
    )
    forged_hangup = vonage_sends(
        server,
        "/webhooks/event",
        {"uuid": "leg-1", "status": "completed"},
        secret="not-the-secret-but-long-enough-0123456789",
    )
    unsigned = requests.post(
        server.base + "/webhooks/event", json={"uuid": "leg-1", "status": "completed"}, timeout=5
    )

    assert [r.status_code for r in (forged_answer, forged_hangup, unsigned)] == [200, 401, 401]
    assert forged_answer.json()[1] == {"action": "conversation", "name": "Soothing Conference"}
    assert live_legs(server) == ["leg-1"]  # the forged caller was connected, not recorded
    assert owner(server, "/stream").status_code == 200
    printed = server.printed()
    assert "refused '/webhooks/event' from 127.0.0.1: bad signature" in printed
    assert (
        "answered '/webhooks/answer' from 127.0.0.1 unsigned, with the plain NCCO: bad signature"
        in printed
    )


def test_the_owner_routes_refuse_a_missing_token(server, fake_api):
    call_in(server, "leg-1")

    assert requests.get(server.base + "/stream", timeout=5).status_code == 401
    assert fake_api.requests == []


def test_the_logs_of_a_whole_session_hold_no_secret(server, fake_api, private_pem):
    call_in(server, "leg-1")
    owner(server, "/stream")
    fake_api.fault = 401
    owner(server, "/stream/stop")
    vonage_sends(server, "/webhooks/answer", {"uuid": "x"}, method="GET", secret="w" * 40)

    printed = server.stop()

    assert "leg-1" in printed  # the log is there...
    assert "eyJ" not in printed  # ...but no JWT (they all start with a base64 '{"')
    assert "PRIVATE KEY" not in printed and private_pem.splitlines()[1] not in printed
    assert SECRET not in printed
    # Not even the control token: this output is a file, as on a hosting platform, so the
    # banner's links say where the token is instead, and the access log hides it.
    assert TOKEN not in printed
    assert f"  {server.base}/stream?token=<CONTROL_TOKEN>  (play music into the conference)" in (
        printed.splitlines()
    )
    assert "?token=<hidden>" in printed
