"""Audio files of our own: served at /audio/NAME to Vonage, and checked at start-up."""

import io
import re
import wave

import pytest

import audio
import settings as config
from testing.processes import run

SAMPLE = audio.FOLDER / "hold.mp3"


def mp3(frames=20, header=b"\xff\xf3\x48\xc4", id3=False):
    """MP3 bytes: `frames` MPEG-2 Layer III frames (16 kHz, 32 kbit/s, 144 bytes each) of
    silence, after an ID3v2 tag if `id3`."""
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 if id3 else b""
    return tag + (header + b"\x00" * 140) * frames


def wav(width=2, rate=16000, channels=1, seconds=0.5):
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(channels)
        sound.setsampwidth(width)
        sound.setframerate(rate)
        sound.writeframes(b"\x00" * width * channels * int(rate * seconds))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "seconds"),
    [
        ("tones.mp3", mp3(frames=100), 100 * 576 / 16000),
        ("tagged.mp3", mp3(frames=50, id3=True), 50 * 576 / 16000),
        # MPEG-1, 128 kbit/s at 44.1 kHz: 417 bytes a frame
        ("cd.mp3", (b"\xff\xfb\x90\x00" + b"\x00" * 413) * 10, 10 * 1152 / 44100),
        ("voice.wav", wav(rate=8000, seconds=2), 2.0),
        ("wide.wav", wav(rate=16000, seconds=1.5), 1.5),
    ],
)
def test_an_mp3_or_16_bit_mono_wav_is_accepted_with_its_length(tmp_path, name, data, seconds):
    path = tmp_path / name
    path.write_bytes(data)

    assert audio.check_file(path) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("notes.mp3", b"These are my notes, not music.\n" * 40, "is not an MP3 file"),
        ("one-frame.mp3", mp3(frames=1), "is not an MP3 file"),
        ("layer2.mp3", mp3(header=b"\xff\xf5\x48\xc4"), "is not an MP3 file"),
        ("half.mp3", mp3() + b"junk" * 1000, "is not an MP3 file"),
        ("notes.wav", b"RIFF but not really a wave file", "is not a PCM WAV file"),
        ("8bit.wav", wav(width=1), "is 8-bit, 1 channel(s), 16000 Hz"),
        ("24bit.wav", wav(width=3), "is 24-bit, 1 channel(s), 16000 Hz"),
        ("stereo.wav", wav(channels=2), "is 16-bit, 2 channel(s)"),
        ("cd.wav", wav(rate=44100), "44100 Hz"),
        ("empty.wav", wav(seconds=0), "0 samples"),
    ],
)
def test_a_file_vonage_cannot_play_is_refused_saying_why(tmp_path, name, data, fragment):
    path = tmp_path / name
    path.write_bytes(data)

    with pytest.raises(ValueError, match=re.escape(fragment)):
        audio.check_file(path)


def test_the_shipped_sample_is_a_small_mp3_of_a_few_seconds():
    assert 3 < audio.check_file(SAMPLE) < 30
    assert SAMPLE.stat().st_size < 200_000


def test_a_local_stream_url_is_played_from_the_public_url_with_its_length():
    settings = config.load({"STREAM_URL": "audio/hold.mp3", "PUBLIC_URL": "https://abc.ngrok.app/"})

    assert settings.stream_url == "https://abc.ngrok.app/audio/hold.mp3"
    assert settings.stream_seconds == pytest.approx(audio.check_file(SAMPLE))


def test_a_local_greeting_in_a_codespace_is_played_from_its_forwarded_url():
    settings = config.load({"GREETING": "audio/hold.mp3", "CODESPACE_NAME": "fluffy-train"})

    assert settings.greeting == "https://fluffy-train-9000.app.github.dev/audio/hold.mp3"


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        (
            {"STREAM_URL": "audio/hold.mp3"},
            "STREAM_URL=audio/hold.mp3 is a file of this server, which Vonage fetches at "
            "PUBLIC_URL/audio/hold.mp3: set PUBLIC_URL, or use an https:// URL "
            "(see .env.example)",
        ),
        (
            {"STREAM_URL": "audio/../private.key", "PUBLIC_URL": "https://a.example"},
            "STREAM_URL='audio/../private.key' is not allowed: name an .mp3 or .wav file right "
            "in the audio folder, such as audio/hold.mp3 (see .env.example)",
        ),
        (
            {"STREAM_URL": "audio/missing.mp3", "PUBLIC_URL": "https://a.example"},
            f"STREAM_URL='audio/missing.mp3' is not allowed: there is no file "
            f"{audio.FOLDER / 'missing.mp3'}: put your audio file there (see .env.example)",
        ),
        (
            {"STREAM_URL": "audio/hold.mp3", "PUBLIC_URL": "x.example"},
            "PUBLIC_URL='x.example' is not allowed: give the public base URL Vonage reaches, "
            "such as https://abc.ngrok.app (see .env.example)",
        ),
        (
            {"GREETING": "x" * 1501},
            "GREETING='" + "x" * 1501 + "' is not allowed: give at most 1,500 characters of "
            "text (1,501 given), or audio: audio/NAME.mp3 or an https:// URL (see .env.example)",
        ),
        (
            {"GREETING_LANGUAGE": "klingon"},
            "GREETING_LANGUAGE='klingon' is not allowed: give a language Vonage speaks, such as "
            "en-GB, es-ES or fr-FR (https://developer.vonage.com/en/voice/voice-api/concepts/"
            "text-to-speech) (see .env.example)",
        ),
    ],
)
def test_a_bad_local_file_greeting_or_language_is_one_clear_line(env, problem):
    with pytest.raises(config.SettingsError) as error:
        config.load(env)

    assert error.value.problems == [problem]


def test_a_renamed_text_file_stops_start_up_with_one_line_and_exit_2(project):
    (project / "audio" / "notes.mp3").write_text("These are my notes, not music.\n" * 40)

    result = run(
        project, "scenario-1.py", STREAM_URL="audio/notes.mp3", PUBLIC_URL="https://a.example"
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"STREAM_URL='audio/notes.mp3' is not allowed: {project / 'audio' / 'notes.mp3'} is not "
        "an MP3 file (no MPEG audio frames from its start to its end): convert it to MP3, or to "
        "a 16-bit mono WAV (see .env.example)"
    ]


def fetch(client, path, method="GET", **headers):
    """The response to one request, its file closed (Werkzeug streams files)."""
    response = client.open(path, method=method, headers=headers)
    response.get_data()
    response.close()
    return response


@pytest.fixture(params=["scenario1", "scenario2"])
def audio_client(request):
    """A test client of each scenario, which both serve the audio folder."""
    if request.param == "scenario1":
        return request.getfixturevalue("client1")
    return request.getfixturevalue("client2")


def test_an_audio_file_is_served_whole_with_its_type_and_a_day_of_cache(audio_client):
    response = fetch(audio_client, "/audio/hold.mp3")

    assert response.status_code == 200
    assert response.data == SAMPLE.read_bytes()
    assert response.mimetype == "audio/mpeg"
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.cache_control.public
    assert response.cache_control.max_age == 86400
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_audio_file_is_served_in_ranges_and_answers_head_and_conditional_requests(
    audio_client,
):
    whole = SAMPLE.read_bytes()

    part = fetch(audio_client, "/audio/hold.mp3", Range="bytes=100-199")
    head = fetch(audio_client, "/audio/hold.mp3", "HEAD")
    again = fetch(audio_client, "/audio/hold.mp3", **{"If-None-Match": head.headers["ETag"]})
    past = fetch(audio_client, "/audio/hold.mp3", Range=f"bytes={len(whole)}-")

    assert (part.status_code, part.data) == (206, whole[100:200])
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert (head.status_code, head.data, head.content_length) == (200, b"", len(whole))
    assert (again.status_code, again.data) == (304, b"")
    assert past.status_code == 416


@pytest.mark.parametrize(
    "path",
    [
        "/audio/",
        "/audio/missing.mp3",
        "/audio/../private.key",
        "/audio/..%2fsettings.py",
        "/audio/%2e%2e/settings.py",
        "/audio/.hidden.mp3",
        "/audio/hold.MP3",
        "/audio/hold.mp3.txt",
        "/audio/notes.txt",
        "/audio/hold.mp3/",
        "/audio",
    ],
)
def test_nothing_else_is_served_under_audio(audio_client, path):
    response = fetch(audio_client, path)

    assert response.status_code == 404
    assert b"hold.mp3" not in response.data  # no listing


def test_audio_needs_no_token_or_signature(scenario2, settings2):
    from dataclasses import replace

    app = scenario2.create_app(
        replace(settings2, control_token="t" * 20, signature_secret="s" * 16)
    )

    assert fetch(app.test_client(), "/audio/hold.mp3").status_code == 200
