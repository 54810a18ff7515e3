"""Settings: defaults, every bad value named with its fix, and the private key in any form."""

import pytest
from conftest import APPLICATION_ID
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import settings as config


@pytest.fixture
def voice_env(key_file):
    """The environment of a correctly configured scenario 2."""
    return {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(key_file)}


def problems(env, voice_api=True):
    with pytest.raises(config.SettingsError) as caught:
        config.load(env, voice_api=voice_api)
    return caught.value.problems


def test_scenario_1_needs_no_configuration():
    assert config.load({}) == config.Settings(
        stream_url=config.DEFAULT_STREAM_URL,
        stream_level=None,
        stream_loop=None,
        conf_name="Soothing Conference",
        host="localhost",
        port=9000,
    )


def test_scenario_1_ignores_the_voice_api_settings_it_does_not_use():
    assert config.load({"VONAGE_APPLICATION_ID": "nonsense", "CONF_NAME": ""}) == config.Settings()


def test_empty_values_mean_the_defaults():
    env = {"STREAM_URL": "", "STREAM_LEVEL": " ", "STREAM_LOOP": "", "PORT": "", "HOST": ""}

    assert config.load(env) == config.Settings()


@pytest.mark.parametrize(
    ("name", "raw", "field", "value"),
    [
        ("STREAM_URL", "http://example.com/hold.wav", "stream_url", "http://example.com/hold.wav"),
        ("STREAM_LEVEL", "-1", "stream_level", -1.0),
        ("STREAM_LEVEL", "0.5", "stream_level", 0.5),
        ("STREAM_LEVEL", "1.0", "stream_level", 1.0),
        ("STREAM_LOOP", "0", "stream_loop", 0),
        ("STREAM_LOOP", " 3 ", "stream_loop", 3),
        ("PORT", "8080", "port", 8080),
        ("HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("CONF_NAME", "Board meeting", "conf_name", "Board meeting"),
        ("VONAGE_API_HOST", "api-us.vonage.com", "api_host", "api-us.vonage.com"),
        ("VONAGE_API_HOST", "127.0.0.1:8443", "api_host", "127.0.0.1:8443"),
    ],
)
def test_good_values_are_parsed(voice_env, name, raw, field, value):
    settings = config.load({**voice_env, name: raw}, voice_api=True)

    assert getattr(settings, field) == value


@pytest.mark.parametrize(
    ("name", "raw", "allowed"),
    [
        ("STREAM_URL", "ftp://example.com/a.mp3", "give an http:// or https:// URL"),
        ("STREAM_URL", "example.com/a.mp3", "give an http:// or https:// URL"),
        ("STREAM_URL", "https://exa mple.com/a.mp3", "give an http:// or https:// URL"),
        ("STREAM_LEVEL", "3", "a number from -1 to 1 in steps of 0.1"),
        ("STREAM_LEVEL", "0.55", "a number from -1 to 1 in steps of 0.1"),
        ("STREAM_LEVEL", "loud", "a number from -1 to 1 in steps of 0.1"),
        ("STREAM_LEVEL", "nan", "a number from -1 to 1 in steps of 0.1"),
        ("STREAM_LOOP", "-1", "a whole number: how many times to play, 0 for forever"),
        ("STREAM_LOOP", "1.5", "a whole number: how many times to play, 0 for forever"),
        ("PORT", "abc", "a port number from 1 to 65535"),
        ("PORT", "70000", "a port number from 1 to 65535"),
        ("VONAGE_API_HOST", "https://api.nexmo.com", "host[:port] without https://"),
        ("VONAGE_APPLICATION_ID", "abcd1234", "not the API key"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(
    voice_env, name, raw, allowed
):
    [problem] = problems({**voice_env, name: raw})

    assert problem.startswith(f"{name}={raw!r} is not allowed: ")
    assert allowed in problem
    assert problem.endswith("(see .env.example)")


def test_every_problem_is_reported_at_once():
    found = problems(
        {
            "STREAM_LEVEL": "3",
            "STREAM_LOOP": "-1",
            "STREAM_URL": "ftp://x",
            "PORT": "abc",
            "VONAGE_PRIVATE_KEY": "/nonexistent/private.key",
        }
    )

    assert [p.split("=")[0].split(" ")[0].rstrip(":") for p in found] == [
        "STREAM_URL",
        "STREAM_LEVEL",
        "STREAM_LOOP",
        "PORT",
        "VONAGE_APPLICATION_ID",
        "VONAGE_PRIVATE_KEY",
    ]


def test_missing_application_id_says_where_to_find_it(key_file):
    [problem] = problems({"VONAGE_PRIVATE_KEY": str(key_file)})

    assert problem == (
        "VONAGE_APPLICATION_ID is not set: run .venv/bin/python setup-vonage.py, or copy your "
        "application's id from the Vonage dashboard "
        "(Applications) into .env (see .env.example)"
    )


def test_missing_key_file_names_the_path_it_looked_at(tmp_path):
    missing = tmp_path / "private.key"

    [problem] = problems(
        {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(missing)}
    )

    assert problem.startswith(f"VONAGE_PRIVATE_KEY: no key file at {missing}: save the private.key")


def test_key_path_defaults_to_private_key_next_to_the_scripts(monkeypatch, tmp_path, private_pem):
    monkeypatch.setattr(config, "PROJECT_DIR", tmp_path)
    (tmp_path / "private.key").write_text(private_pem)

    settings = config.load({"VONAGE_APPLICATION_ID": APPLICATION_ID}, voice_api=True)

    assert settings.private_key == private_pem


def test_unreadable_key_path_is_reported(tmp_path):
    [problem] = problems(
        {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(tmp_path)}
    )

    assert problem.startswith(f"VONAGE_PRIVATE_KEY: cannot read {tmp_path}: ")
    assert "point VONAGE_PRIVATE_KEY at the key file itself" in problem


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"Replace this file with your key\n",
        b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        b"\x00\xff",
    ],
)
def test_a_file_that_is_not_a_pem_private_key_is_reported(tmp_path, content):
    path = tmp_path / "private.key"
    path.write_bytes(content)

    [problem] = problems({"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(path)})

    assert problem.startswith(f"VONAGE_PRIVATE_KEY: {path} is not a private key in PEM form")


def test_a_pkcs1_key_is_accepted_and_handed_to_the_sdk_as_pkcs8(tmp_path, rsa_key, private_pem):
    path = tmp_path / "private.key"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    assert path.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")

    settings = config.load(
        {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(path)}, voice_api=True
    )

    assert settings.private_key == private_pem


@pytest.mark.parametrize("escape", [False, True])
def test_the_key_can_be_given_as_pem_text(private_pem, escape):
    text = private_pem.replace("\n", "\\n") if escape else private_pem

    settings = config.load(
        {"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": text}, voice_api=True
    )

    assert settings.private_key == private_pem


def test_broken_pem_text_is_reported_without_echoing_it(private_pem):
    broken = private_pem[:200]

    [problem] = problems({"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": broken})

    assert problem.startswith("VONAGE_PRIVATE_KEY: the PEM text in VONAGE_PRIVATE_KEY is not")
    assert private_pem.splitlines()[1] not in problem


def test_a_key_cut_after_its_first_line_says_to_quote_it_in_dotenv(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text("VONAGE_PRIVATE_KEY=-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n")

    [problem] = problems(
        {"VONAGE_APPLICATION_ID": APPLICATION_ID, **config.read_environment(dotenv)}
    )

    assert problem == (
        "VONAGE_PRIVATE_KEY: the PEM text in VONAGE_PRIVATE_KEY stops after its first line: in "
        ".env, put the whole key in double quotes or write its newlines as \\n (see .env.example)"
    )


def test_key_material_without_its_begin_line_is_not_echoed(private_pem):
    body = "".join(private_pem.splitlines()[1:-1])

    [problem] = problems({"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": body})

    assert body[:40] not in problem
    assert "neither a file path nor PEM text" in problem
    assert "give the path to private.key, or the whole key with its BEGIN and END lines" in problem


def test_an_encrypted_key_asks_for_the_unencrypted_one(tmp_path, rsa_key):
    path = tmp_path / "private.key"
    path.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )

    [problem] = problems({"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(path)})

    assert "protected by a passphrase" in problem


def test_a_key_that_is_not_rsa_is_reported(tmp_path):
    path = tmp_path / "private.key"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    [problem] = problems({"VONAGE_APPLICATION_ID": APPLICATION_ID, "VONAGE_PRIVATE_KEY": str(path)})

    assert (
        problem == f"VONAGE_PRIVATE_KEY: {path} is not an RSA key; Vonage signs with RS256: "
        "download a new key pair from the application's page (see .env.example)"
    )


def test_settings_repr_never_shows_the_private_key(private_pem):
    shown = repr(config.Settings(application_id=APPLICATION_ID, private_key=private_pem))

    assert "BEGIN" not in shown and private_pem.splitlines()[1] not in shown
    assert "'private_key': '<set>'" in shown


def test_dotenv_file_is_read_and_the_real_environment_wins(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("CONF_NAME=From the file\nSTREAM_LOOP=2\n")
    monkeypatch.setenv("STREAM_LOOP", "5")

    env = config.read_environment(dotenv)

    assert env["CONF_NAME"] == "From the file"
    assert env["STREAM_LOOP"] == "5"


@pytest.mark.parametrize("raw", ["1", "0", "two", "-3"])
def test_a_quorum_below_two_is_refused(voice_env, raw):
    assert problems({**voice_env, "QUORUM": raw}) == [
        f"QUORUM={raw!r} is not allowed: give a whole number of callers, 2 or more, or leave it "
        "empty (see .env.example)"
    ]


@pytest.mark.parametrize("raw", ["short", "has spaces in it 123456", "ünïcödé-tökén-0123456789"])
def test_a_weak_control_token_is_refused_without_echoing_it(voice_env, raw):
    [problem] = problems({**voice_env, "CONTROL_TOKEN": raw})

    assert problem.startswith(f"CONTROL_TOKEN is not allowed ({len(raw)} characters): ")
    assert raw not in problem
