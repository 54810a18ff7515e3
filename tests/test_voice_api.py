"""The Voice API client: one JWT reused for most of its life, a timeout, and plain-word errors."""

import jwt
from conftest import APPLICATION_ID

import voice_api

URL = "https://api.nexmo.com/v1/calls/leg-1/stream"


def tokens_sent(requests_mock):
    headers = [r.headers["Authorization"] for r in requests_mock.request_history]
    return [h.decode() if isinstance(h, bytes) else h for h in headers]


def test_consecutive_calls_reuse_one_signed_jwt(settings2, requests_mock, rsa_key):
    voice = voice_api.Clients(settings2).voice()
    requests_mock.delete(URL, json={"message": "Stream stopped", "uuid": "leg-1"})

    voice.stop_audio_stream("leg-1")
    voice.stop_audio_stream("leg-1")

    first, second = tokens_sent(requests_mock)
    assert first == second
    claims = jwt.decode(first.removeprefix("Bearer "), rsa_key.public_key(), algorithms=["RS256"])
    assert claims["application_id"] == APPLICATION_ID
    assert claims["exp"] - claims["iat"] == 15 * 60


def test_a_new_jwt_is_signed_once_the_old_one_is_ten_minutes_old(
    settings2, requests_mock, monkeypatch
):
    clock = [5000.0]
    monkeypatch.setattr(voice_api.time, "monotonic", lambda: clock[0])
    voice = voice_api.Clients(settings2).voice()
    requests_mock.delete(URL, json={"message": "Stream stopped", "uuid": "leg-1"})

    voice.stop_audio_stream("leg-1")
    clock[0] += 10 * 60 - 1
    voice.stop_audio_stream("leg-1")
    clock[0] += 2
    voice.stop_audio_stream("leg-1")

    first, second, third = tokens_sent(requests_mock)
    assert first == second != third
