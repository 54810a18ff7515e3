"""Scenario 3: voicemail NCCOs, the PIN and menu paths, the recording webhook and the page."""

import pytest
from conftest import OWNER
from ncco import assert_valid_ncco

import settings as config
from conference_store import StoreError

BASE = "https://vm.example.com"
URL = "https://api-us.vonage.com/v1/files/aaaaaaaa-0000-1111-2222-333333333333"
RECORD = {
    "action": "record",
    "format": "mp3",
    "beepStart": True,
    "endOnKey": "#",
    "endOnSilence": 5,
    "timeOut": 120,
    "eventUrl": [f"{BASE}/webhooks/recording?from=447700900001"],
}
LEAVE = [
    {"action": "talk", "text": "Leave a message after the tone; press # when you are done"},
    RECORD,
    {"action": "talk", "text": "Thank you, goodbye"},
]
ASK_PIN = [
    {"action": "talk", "text": "Please enter your PIN, then press hash", "bargeIn": True},
    {
        "action": "input",
        "type": ["dtmf"],
        "dtmf": {"timeOut": 10, "maxDigits": 8, "submitOnHash": True},
        "eventUrl": [f"{BASE}/webhooks/pin?tries=1"],
    },
]


def call(client, caller):
    return client.get(f"/webhooks/answer?uuid=leg-1&from={caller}&to=447700900000")


def left(mailbox, n, audio=b"ID3 message"):
    """A message left at time n and kept: its id."""
    message_id = mailbox.expect(f"{URL}-{n}", f"44770090000{n}", float(n), 4.0)
    mailbox.keep(message_id, audio)
    return message_id


def listing(ids, until):
    """The owner's NCCO for messages `ids` (newest first), the newest left at `until`."""
    count = "1 new message" if len(ids) == 1 else f"{len(ids)} new messages"
    return [
        {"action": "talk", "text": f"You have {count}"},
        *({"action": "stream", "streamUrl": [f"{BASE}/messages/{i}.mp3"]} for i in ids),
        {"action": "talk", "text": "Press 1 to hear them again, 3 to delete them", "bargeIn": True},
        {
            "action": "input",
            "type": ["dtmf"],
            "dtmf": {"timeOut": 10, "maxDigits": 1},
            "eventUrl": [f"{BASE}/webhooks/menu?until={until!r}"],
        },
    ]


@pytest.fixture
def client_with(scenario3, settings3):
    """A test client for scenario 3 with some settings changed; its app stopped after."""
    apps = []

    def build(**changes):
        apps.append(scenario3.create_app(config.Settings(**{**vars(settings3), **changes})))
        return apps[-1].test_client()

    yield build
    for app in apps:
        app.extensions["downloads"].stop()
        app.extensions["mailbox"].close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_caller_hears_the_prompt_then_is_recorded_then_thanked(client3, method):
    response = client3.open(
        "/webhooks/answer?from=447700900001",
        method=method,
        json={"uuid": "leg-1", "from": "447700900001"},
    )

    assert response.get_json() == LEAVE
    assert_valid_ncco(response.get_json())


def test_max_message_seconds_sets_the_records_time_out(client_with):
    client = client_with(max_message_seconds=30)

    assert call(client, "447700900001").get_json()[1]["timeOut"] == 30


def test_without_mailbox_owner_even_the_owners_number_leaves_a_message(client_with):
    client = client_with(mailbox_owner=None)

    assert call(client, OWNER).get_json()[1]["action"] == "record"


def test_the_owner_with_no_messages_hears_so(client3):
    assert call(client3, OWNER).get_json() == [
        {"action": "talk", "text": "You have no new messages. Goodbye"}
    ]


def test_the_owner_hears_how_many_then_each_message_newest_first_then_the_menu(client3, app3):
    ids = [left(app3.extensions["mailbox"], n) for n in (1, 2)]

    ncco = call(client3, "+" + OWNER).get_json()

    assert ncco == listing(ids[::-1], 2.0)
    assert_valid_ncco(ncco)


def test_pressing_1_plays_the_messages_again(client3, app3):
    ids = [left(app3.extensions["mailbox"], 1)]

    response = client3.post("/webhooks/menu?until=1.0", json={"dtmf": {"digits": "1"}})

    assert response.get_json() == listing(ids, 1.0)


def test_pressing_3_deletes_the_messages_heard_but_not_one_left_since(client3, app3):
    mailbox = app3.extensions["mailbox"]
    heard = left(mailbox, 1)
    newer = left(mailbox, 2)

    response = client3.post("/webhooks/menu?until=1.0", json={"dtmf": {"digits": "3"}})

    assert response.get_json() == [
        {"action": "talk", "text": "Your messages have been deleted. Goodbye"}
    ]
    assert [m.id for m in mailbox.messages()] == [newer]
    assert client3.get(f"/messages/{heard}.mp3").status_code == 404


@pytest.mark.parametrize("dtmf", [{"digits": "7"}, {"digits": "", "timed_out": True}])
def test_another_key_or_none_says_goodbye_and_deletes_nothing(client3, app3, dtmf):
    left(app3.extensions["mailbox"], 1)

    response = client3.post("/webhooks/menu?until=1.0", json={"dtmf": dtmf})

    assert response.get_json() == [{"action": "talk", "text": "Goodbye"}]
    assert len(app3.extensions["mailbox"].messages()) == 1


@pytest.fixture
def pin_client(client_with):
    return client_with(mailbox_pin="2468")


def test_with_a_pin_the_owner_is_asked_for_it_first(pin_client):
    ncco = call(pin_client, OWNER).get_json()

    assert ncco == ASK_PIN
    assert_valid_ncco(ncco)


def test_the_right_pin_plays_the_messages(pin_client):
    response = pin_client.post("/webhooks/pin?tries=1", json={"dtmf": {"digits": "2468"}})

    assert response.get_json() == [{"action": "talk", "text": "You have no new messages. Goodbye"}]


def test_a_wrong_pin_asks_again_and_the_third_says_goodbye(pin_client):
    second = pin_client.post("/webhooks/pin?tries=1", json={"dtmf": {"digits": "1111"}})
    third = pin_client.post("/webhooks/pin?tries=2", json={"dtmf": {"digits": "1111"}})
    last = pin_client.post("/webhooks/pin?tries=3", json={"dtmf": {"digits": "2468"[:3]}})

    assert second.get_json() == [
        {"action": "talk", "text": "Wrong PIN. Please try again", "bargeIn": True},
        {**ASK_PIN[1], "eventUrl": [f"{BASE}/webhooks/pin?tries=2"]},
    ]
    assert third.get_json()[1]["eventUrl"] == [f"{BASE}/webhooks/pin?tries=3"]
    assert last.get_json() == [{"action": "talk", "text": "Wrong PIN. Goodbye"}]


def test_a_store_that_is_down_still_records_a_caller_and_tells_the_owner(
    client3, app3, monkeypatch
):
    def down():
        raise StoreError("the store is down")

    monkeypatch.setattr(app3.extensions["mailbox"], "messages", down)

    assert call(client3, "447700900001").get_json() == LEAVE
    assert call(client3, OWNER).get_json() == [
        {
            "action": "talk",
            "text": "Your messages cannot be reached right now. Please try again later",
        }
    ]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/v1/files/x",
        "https://api.vonage.com.evil.example/v1/files/x",
        "http://api.nexmo.com/v1/files/x",
        "https://user@api.nexmo.com/v1/files/x",
        None,
    ],
)
def test_a_recording_url_off_vonage_is_refused_and_nothing_is_fetched(client3, app3, url, caplog):
    response = client3.post("/webhooks/recording", json={"recording_url": url})

    assert response.status_code == 400
    assert "not an https URL on a Vonage host" in response.get_json()["error"]
    assert app3.extensions["mailbox"].due(now=1e12, lease=1) == []
    assert "refused, no JWT sent" in caplog.text


def test_the_recording_webhook_notes_the_download_with_who_when_and_how_long(client3, app3):
    app3.extensions["downloads"].ensure_running = lambda: None  # no thread: look, not fetch

    response = client3.post(
        "/webhooks/recording?from=447700900001",
        json={
            "recording_url": URL,
            "start_time": "2026-01-02T10:00:00Z",
            "end_time": "2026-01-02T10:00:12Z",
        },
    )

    assert response.status_code == 204
    [pending] = app3.extensions["mailbox"].due(now=1e12, lease=1)
    assert (pending.url, pending.caller, pending.duration) == (URL, "447700900001", 12.0)


def test_a_message_is_served_as_mp3_with_ranges_and_caching_and_404_once_deleted(client3, app3):
    message_id = left(app3.extensions["mailbox"], 1, b"ID3" + bytes(range(200)))

    whole = client3.get(f"/messages/{message_id}.mp3")
    part = client3.get(f"/messages/{message_id}.mp3", headers={"Range": "bytes=0-2"})
    again = client3.get(
        f"/messages/{message_id}.mp3", headers={"If-None-Match": whole.headers["ETag"]}
    )
    deleted = client3.delete(f"/messages/{message_id}")
    gone = client3.get(f"/messages/{message_id}.mp3")

    assert (whole.status_code, whole.mimetype, len(whole.data)) == (200, "audio/mpeg", 203)
    assert "private" in whole.headers["Cache-Control"]
    assert (part.status_code, part.data) == (206, b"ID3")
    assert again.status_code == 304
    assert deleted.get_json() == {"message": "deleted", "id": message_id}
    assert gone.status_code == 404


def test_the_owners_page_and_list_need_the_token_when_set(client_with):
    token = "owner-token-0123456789abcdef"
    client = client_with(control_token=token)

    assert client.get("/").status_code == 401
    assert client.get("/messages").status_code == 401
    assert client.delete("/messages/x").status_code == 401
    assert client.get(f"/?token={token}").status_code == 200
    page = client.get(f"/?token={token}")
    assert "media-src 'self'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        (
            "MAILBOX_PIN",
            "12ab",
            "MAILBOX_PIN is not allowed (4 characters): give 4 to 8 digits, the PIN the owner "
            "keys in on the phone (see .env.example)",
        ),
        (
            "MAX_MESSAGE_SECONDS",
            "9000",
            "MAX_MESSAGE_SECONDS='9000' is not allowed: give a whole number of seconds from 3 "
            "to 7200, such as 120 (see .env.example)",
        ),
        (
            "MAILBOX_OWNER",
            "owner",
            "MAILBOX_OWNER='owner' is not allowed: give the owner's phone number with its "
            "country code, as Vonage sends it: digits only, such as 447700900001 "
            "(see .env.example)",
        ),
    ],
)
def test_a_bad_scenario_3_setting_is_one_line_naming_it(name, value, problem):
    env = {"VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab", name: value}

    with pytest.raises(config.SettingsError) as error:
        config.load({**env, "VONAGE_PRIVATE_KEY": "-----BEGIN x"}, scenario=3)

    assert problem in error.value.problems


def test_a_pin_without_an_owner_is_refused_without_showing_the_pin():
    env = {
        "VONAGE_APPLICATION_ID": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "VONAGE_PRIVATE_KEY": "-----BEGIN x",
        "MAILBOX_PIN": "90817",
    }

    with pytest.raises(config.SettingsError) as error:
        config.load(env, scenario=3)

    assert (
        "MAILBOX_PIN is set, but MAILBOX_OWNER is not: the PIN guards the owner's calls, so set "
        "MAILBOX_OWNER to your number, or leave MAILBOX_PIN empty (see .env.example)"
    ) in error.value.problems
    assert "90817" not in str(error.value)


def test_the_owners_number_may_be_written_with_a_plus_and_spaces():
    owner = config.variable("MAILBOX_OWNER")

    assert config.check(owner, {"MAILBOX_OWNER": "+44 7700 900001"}) == ("447700900001", None)


def test_with_a_signature_secret_an_unsigned_owner_only_leaves_a_message_and_no_download(
    client_with,
):
    client = client_with(signature_secret="a-signature-secret")

    owner = call(client, OWNER).get_json()
    recording = client.post("/webhooks/recording", json={"recording_url": URL})

    assert owner == [
        *LEAVE[:1],
        {**RECORD, "eventUrl": [f"{BASE}/webhooks/recording?from={OWNER}"]},
        LEAVE[2],
    ]
    assert recording.status_code == 401
