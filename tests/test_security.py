"""Only Vonage drives the webhooks (signed JWTs); only the owner drives the music (a token)."""

import hashlib
import json
import logging
import time
import uuid

import jwt
import pytest
from conftest import APPLICATION_ID

import settings as config
import startup
import webhooks

SECRET = "a-signature-secret-of-32-chars-or-more"
TOKEN = "owner-token-0123456789"
NCCO_ACTIONS = {"scenario1": ["stream"], "scenario2": ["talk", "conversation"]}


def compact(fields):
    """Fields as JSON without spaces, in their order: what Vonage hashes for a GET."""
    return json.dumps(fields, separators=(",", ":")).encode()


def signed(body=b"", secret=SECRET, issued=None, query=None, **claims):
    """The Authorization header Vonage sends: an HS256 JWT carrying the payload's SHA-256."""
    claims = {
        "iat": int(time.time()) if issued is None else issued,
        "jti": str(uuid.uuid4()),
        "application_id": APPLICATION_ID,
        **claims,
    }
    if body or query:
        claims.setdefault("payload_hash", hashlib.sha256(body or compact(query)).hexdigest())
    return {"Authorization": "Bearer " + jwt.encode(claims, secret, algorithm="HS256")}


@pytest.fixture(params=["scenario1", "scenario2"])
def signed_app(request, settings2):
    """Either scenario, with VONAGE_SIGNATURE_SECRET set."""
    module = request.getfixturevalue(request.param)
    app = module.create_app(config.Settings(**{**vars(settings2), "signature_secret": SECRET}))
    app.scenario = request.param
    return app


def live_legs(app):
    conference = app.extensions.get("conference")
    return [leg["uuid"] for leg in conference.snapshot()["legs"]] if conference else []


def test_a_signed_get_webhook_is_accepted(signed_app):
    headers = signed(query={"uuid": "leg-1", "from": "447700900001"})

    response = signed_app.test_client().get(
        "/webhooks/answer?uuid=leg-1&from=447700900001", headers=headers
    )

    assert response.status_code == 200
    assert [a["action"] for a in response.get_json()] == NCCO_ACTIONS[signed_app.scenario]


def test_a_signed_post_webhook_whose_body_matches_is_accepted(signed_app):
    client = signed_app.test_client()
    client.get("/webhooks/answer?uuid=leg-1", headers=signed())
    body = json.dumps({"uuid": "leg-1", "status": "completed"}).encode()

    response = client.post(
        "/webhooks/event", data=body, content_type="application/json", headers=signed(body)
    )

    assert response.status_code == 200
    assert live_legs(signed_app) == []


# Each case builds its headers when the test runs: a token made at collection time would age.
UNSIGNED_CASES = pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (lambda: {}, "no signed token"),
        (lambda: {"Authorization": "Basic dXNlcjpwYXNz"}, "no signed token"),
        (lambda: {"Authorization": "Bearer not-a-jwt"}, "invalid token: Not enough segments"),
        (lambda: signed(secret="someone-elses-secret-of-32-characters"), "bad signature"),
        (lambda: signed(issued=int(time.time()) - 6 * 60), "token expired"),
        (
            lambda: signed(issued=int(time.time()) + 60),
            "invalid token: The token is not yet valid (iat)",
        ),
        (lambda: signed(exp=int(time.time()) - 1), "invalid token: Signature has expired"),
    ],
    ids=["none", "basic", "not a jwt", "other secret", "too old", "future", "expired"],
)


@UNSIGNED_CASES
def test_an_unsigned_or_forged_answer_webhook_still_connects_the_caller_unrecorded(
    signed_app, caplog, headers, reason
):
    expected = signed_app.test_client().get("/webhooks/answer").get_json()  # the plain NCCO

    response = signed_app.test_client().get("/webhooks/answer?uuid=leg-1", headers=headers())

    assert response.status_code == 200
    assert response.get_json() == expected
    assert live_legs(signed_app) == []
    warning = [r for r in caplog.records if r.levelno == logging.WARNING][-1]
    assert warning.getMessage() == (
        f"answered '/webhooks/answer' from 127.0.0.1 unsigned, with the plain NCCO: {reason}"
    )


@UNSIGNED_CASES
def test_an_unsigned_or_forged_event_gets_401_and_changes_nothing(
    signed_app, caplog, headers, reason
):
    signed_app.test_client().get("/webhooks/answer?uuid=leg-1", headers=signed())
    legs_before = live_legs(signed_app)

    response = signed_app.test_client().get(
        "/webhooks/event?uuid=leg-1&status=completed", headers=headers()
    )

    assert response.status_code == 401
    assert response.get_json() == {"error": "this webhook is not signed by Vonage"}
    assert live_legs(signed_app) == legs_before
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == f"refused '/webhooks/event' from 127.0.0.1: {reason}"


def test_an_unsigned_answer_never_takes_a_quorum_role(scenario2, settings2):
    settings = config.Settings(**{**vars(settings2), "signature_secret": SECRET, "quorum": 2})
    client = scenario2.create_app(settings).test_client()

    unsigned = client.get("/webhooks/answer?uuid=leg-1").get_json()
    first = client.get("/webhooks/answer?uuid=leg-2", headers=signed()).get_json()

    assert unsigned[1] == {"action": "conversation", "name": "Soothing Conference"}
    assert first[1]["startOnEnter"] is False  # the first recorded caller still waits


def test_a_body_changed_after_signing_is_refused_and_the_leg_kept(signed_app, caplog):
    client = signed_app.test_client()
    client.get("/webhooks/answer?uuid=leg-1", headers=signed())
    legs_before = live_legs(signed_app)
    original = json.dumps({"uuid": "leg-1", "status": "answered"}).encode()
    tampered = json.dumps({"uuid": "leg-1", "status": "completed"}).encode()

    response = client.post(
        "/webhooks/event", data=tampered, content_type="application/json", headers=signed(original)
    )

    assert response.status_code == 401
    assert live_legs(signed_app) == legs_before
    assert "payload does not match payload_hash" in caplog.text


def test_without_a_signature_secret_unsigned_webhooks_are_accepted(client2):
    assert client2.get("/webhooks/answer?uuid=leg-1").status_code == 200


@pytest.fixture
def owned(scenario2, settings2, requests_mock):
    """Scenario 2 with CONTROL_TOKEN set, one caller in, and the Voice API answering."""
    app = scenario2.create_app(config.Settings(**{**vars(settings2), "control_token": TOKEN}))
    client = app.test_client()
    client.get("/webhooks/answer?uuid=leg-1")
    api = "https://api.nexmo.com/v1/calls/leg-1/stream"
    requests_mock.put(api, json={"message": "Stream started", "uuid": "leg-1"})
    requests_mock.delete(api, json={"message": "Stream stopped", "uuid": "leg-1"})
    return client


@pytest.mark.parametrize("path", ["/stream", "/stream/stop", "/status"])
@pytest.mark.parametrize(
    "how",
    [
        {},
        {"query_string": {"token": "wrong-token-0123456789"}},
        {"headers": {"Authorization": "Bearer wrong"}},
        {"query_string": {"token": ""}},
    ],
)
def test_owner_routes_without_the_right_token_get_401_and_do_nothing(
    owned, requests_mock, path, how
):
    response = owned.get(path, **how)

    assert response.status_code == 401
    assert response.get_json() == {
        "error": "wrong or missing token: use the link printed at startup"
    }
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "how", [{"query_string": {"token": TOKEN}}, {"headers": {"Authorization": f"Bearer {TOKEN}"}}]
)
def test_owner_routes_work_with_the_token_in_the_link_or_a_bearer_header(owned, how):
    assert owned.get("/stream", **how).status_code == 200
    assert owned.get("/status", **how).get_json()["streaming_on"] == "leg-1"
    assert owned.get("/stream/stop", **how).status_code == 200


def test_webhooks_never_need_the_control_token(owned):
    assert owned.get("/webhooks/answer?uuid=leg-2").status_code == 200
    assert (
        owned.post("/webhooks/event", json={"uuid": "leg-2", "status": "completed"}).status_code
        == 200
    )


def test_on_a_terminal_the_printed_control_links_carry_the_token(settings2):
    settings = config.Settings(**{**vars(settings2), "control_token": TOKEN})

    text = startup.banner(
        settings, "Scenario 2", voice_api=True, browser=[("play", "/stream")], terminal=True
    )

    assert f"  http://localhost:9000/stream?token={TOKEN}  (play)" in text.splitlines()
    assert "<CONTROL_TOKEN>" not in text
    assert "set CONTROL_TOKEN" not in text


def test_elsewhere_the_printed_control_links_mask_the_token_and_say_where_it_is(settings2):
    settings = config.Settings(**{**vars(settings2), "control_token": TOKEN})

    text = startup.banner(settings, "Scenario 2", voice_api=True, browser=[("play", "/stream")])

    assert TOKEN not in text
    lines = text.splitlines()
    assert "  http://localhost:9000/stream?token=<CONTROL_TOKEN>  (play)" in lines
    assert (
        "  <CONTROL_TOKEN> is your CONTROL_TOKEN, from .env or the environment: not printed "
        "here, as this output is not a terminal and may be kept in a log."
    ) in lines
    assert "set CONTROL_TOKEN" not in text


def test_without_a_control_token_the_links_have_nothing_to_mask(settings2):
    text = startup.banner(settings2, "Scenario 2", voice_api=True, browser=[("play", "/stream")])

    assert "  http://localhost:9000/stream  (play)" in text.splitlines()
    assert "<CONTROL_TOKEN>" not in text


def test_banner_says_once_when_webhooks_are_not_verified(settings2):
    unsigned = startup.banner(settings2, "Scenario 2", voice_api=True)
    signed_text = startup.banner(
        config.Settings(**{**vars(settings2), "signature_secret": SECRET}), "Scenario 2"
    )

    assert unsigned.count("Webhooks are not verified") == 1
    assert "Webhooks: only those signed with VONAGE_SIGNATURE_SECRET are accepted." in signed_text
    assert SECRET not in signed_text


def test_settings_repr_hides_every_secret(settings2):
    shown = repr(
        config.Settings(**{**vars(settings2), "signature_secret": SECRET, "control_token": TOKEN})
    )

    assert SECRET not in shown and TOKEN not in shown and "BEGIN" not in shown


def test_vonage_retrying_the_same_signed_get_is_accepted(signed_app):
    client, headers = signed_app.test_client(), signed()

    first = client.get("/webhooks/answer?uuid=leg-1&from=447700900001", headers=headers)
    retry = client.get("/webhooks/answer?uuid=leg-1&from=447700900001", headers=headers)

    assert first.status_code == retry.status_code == 200


def test_a_signed_get_token_replayed_with_other_fields_is_refused(signed_app, caplog):
    client, headers = signed_app.test_client(), signed()
    client.get("/webhooks/answer?uuid=leg-1", headers=headers)
    legs_before = live_legs(signed_app)

    replayed = client.get("/webhooks/event?uuid=leg-1&status=completed", headers=headers)

    assert replayed.status_code == 401
    assert live_legs(signed_app) == legs_before
    assert "token reused for another request" in caplog.text


def test_seen_tokens_are_forgotten_once_expired_and_bounded(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(webhooks.time, "monotonic", lambda: clock[0])
    seen = webhooks.SeenTokens()
    seen.MAX = 3

    assert seen.first_or_same("t1", b"a")
    assert not seen.first_or_same("t1", b"b")
    clock[0] += webhooks.TOKEN_MAX_AGE + 1
    assert seen.first_or_same("t1", b"b")  # t1 has expired: as good as new (and refused as old)
    for n in range(2, 7):
        seen.first_or_same(f"t{n}", b"x")
    assert seen.first_or_same("t2", b"other")  # the oldest were dropped to keep at most 3
    assert not seen.first_or_same("t6", b"other")


def test_the_access_log_hides_the_control_token():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - [%s] "%s" %s -',
        ("127.0.0.1", "now", f"GET /stream?x=1&token={TOKEN} HTTP/1.1", "200"),
        None,
    )

    webhooks.HIDE_TOKENS.filter(record)

    assert (
        record.getMessage() == '127.0.0.1 - - [now] "GET /stream?x=1&token=<hidden> HTTP/1.1" 200 -'
    )


def test_a_signed_get_whose_query_was_changed_is_refused(signed_app, caplog):
    headers = signed(query={"uuid": "leg-1", "status": "answered"})

    response = signed_app.test_client().get(
        "/webhooks/event?uuid=leg-1&status=completed", headers=headers
    )

    assert response.status_code == 401
    assert "payload does not match payload_hash" in caplog.text


def test_a_post_hashed_as_compact_json_is_accepted_as_vonage_describes(signed_app):
    body = b'{"uuid": "leg-1", "status": "answered"}'  # spaced on the wire, hashed without

    response = signed_app.test_client().post(
        "/webhooks/event",
        data=body,
        content_type="application/json",
        headers=signed(payload_hash=hashlib.sha256(compact(json.loads(body))).hexdigest()),
    )

    assert response.status_code == 200


def test_a_post_whose_token_has_no_payload_hash_is_refused(signed_app):
    body = b'{"uuid":"leg-1","status":"completed"}'

    response = signed_app.test_client().post(
        "/webhooks/event", data=body, content_type="application/json", headers=signed()
    )

    assert response.status_code == 401
