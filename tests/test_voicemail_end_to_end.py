"""Scenario 3 as real processes: a message left in one call is downloaded from the fake Voice
API with the application's JWT, kept in the store, and played into a later call."""

import time
from datetime import datetime, timedelta, timezone

from conftest import OWNER

from testing.processes import session

AUDIO = b"ID3\x04\x00" + bytes(range(256)) * 8  # what the fake Voice API hands over
CALLER = "447700900001"


def leave_message(server, fake_api, file_id="rec-1", caller=CALLER):
    """A call that leaves a message: the answer webhook, then Vonage's recording webhook sent
    where the NCCO's record action says."""
    http = session()
    ncco = http.get(f"{server.base}/webhooks/answer?uuid=leg-1&from={caller}").json()
    [record] = [action for action in ncco if action["action"] == "record"]
    fake_api.files[file_id] = AUDIO
    ended = datetime.now(timezone.utc)
    return http.post(
        record["eventUrl"][0],
        json={
            "recording_url": fake_api.file_url(file_id),
            "start_time": (ended - timedelta(seconds=9)).isoformat(),
            "end_time": ended.isoformat(),
            "recording_uuid": "aaaaaaaa-0000-1111-2222-333333333333",
        },
        timeout=5,
    )


def owners_call(server):
    return session().get(f"{server.base}/webhooks/answer?uuid=leg-2&from={OWNER}").json()


def streams(ncco):
    return [action["streamUrl"][0] for action in ncco if action["action"] == "stream"]


def wait_for(check, seconds=15):
    deadline = time.monotonic() + seconds
    while not (found := check()):
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.1)
    return found


def test_a_message_is_downloaded_with_the_jwt_and_played_into_the_owners_call(
    serve_scenario_3, fake_api
):
    server = serve_scenario_3()

    assert leave_message(server, fake_api).status_code == 204

    [url] = wait_for(lambda: streams(owners_call(server)))
    assert url.startswith(f"{server.base}/messages/") and "?" not in url
    assert session().get(url, timeout=5).content == AUDIO
    assert fake_api.requests == [("GET", "rec-1", None, None)]  # one download, JWT accepted
    [message] = session().get(f"{server.base}/messages", timeout=5).json()["messages"]
    assert (message["from"], message["seconds"], message["bytes"]) == (CALLER, 9, len(AUDIO))


def test_a_message_left_through_one_process_is_heard_through_another(
    serve_scenario_3, fake_api, state_url
):
    first = serve_scenario_3(STATE_URL=state_url)
    second = serve_scenario_3(STATE_URL=state_url)

    leave_message(first, fake_api)

    [url] = wait_for(lambda: streams(owners_call(second)))
    assert url.startswith(second.base)
    assert session().get(url, timeout=5).content == AUDIO


def test_a_failed_download_is_tried_again_after_a_pause(serve_scenario_3, fake_api):
    server = serve_scenario_3()
    fake_api.fault = 500

    leave_message(server, fake_api)
    wait_for(lambda: fake_api.requests)
    fake_api.fault = None

    wait_for(lambda: streams(owners_call(server)))
    assert [status for *_, status in fake_api.requests] == [None, None]
    assert "failed (Vonage answered 500): try 2 again in 2 s" in server.printed()


def test_a_restart_between_the_webhook_and_the_download_loses_nothing(
    serve_scenario_3, fake_api, state_url
):
    first = serve_scenario_3(STATE_URL=state_url)
    fake_api.fault = 503  # Vonage's file service is down: the download waits
    leave_message(first, fake_api)
    wait_for(lambda: fake_api.requests)
    first.kill()
    fake_api.fault = None

    second = serve_scenario_3(STATE_URL=state_url)

    [url] = wait_for(lambda: streams(owners_call(second)))
    assert session().get(url, timeout=5).content == AUDIO


def test_a_recording_url_off_vonage_is_refused_and_no_jwt_is_sent(serve_scenario_3, fake_api):
    server = serve_scenario_3(VONAGE_API_HOST="")

    # The fake's own host is not a Vonage host once VONAGE_API_HOST does not name it.
    response = leave_message(server, fake_api)

    assert response.status_code == 400
    assert response.json() == {
        "error": f"recording_url is not an https URL on a Vonage host ({fake_api.host}): "
        "refused, no JWT sent"
    }
    time.sleep(0.5)
    assert fake_api.requests == []
    assert owners_call(server) == [{"action": "talk", "text": "You have no new messages. Goodbye"}]
