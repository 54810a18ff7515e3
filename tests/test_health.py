"""GET and HEAD /healthz: what a container platform or load balancer probes."""

import pytest

import settings as config

SECRET = "a-signature-secret-of-32-chars-or-more"
TOKEN = "owner-token-0123456789"


@pytest.fixture(params=["scenario1", "scenario2"])
def secured_client(request, settings2):
    """Either scenario with signed webhooks and an owner's token: every other route is locked."""
    module = request.getfixturevalue(request.param)
    settings = config.Settings(
        **{**vars(settings2), "signature_secret": SECRET, "control_token": TOKEN}
    )
    return module.create_app(settings).test_client()


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_check_needs_no_token_and_no_signature(secured_client, method):
    response = secured_client.open("/healthz", method=method)

    assert response.status_code == 200
    if method == "GET":
        assert response.get_json() == {"status": "ok"}


def test_health_check_holds_no_call_data(client2):
    client2.get("/webhooks/answer?uuid=leg-1&from=447700900001")

    response = client2.get("/healthz")

    assert response.get_json() == {"status": "ok"}
    assert b"leg-1" not in response.data and b"447700900001" not in response.data


def test_probes_leave_no_line_in_the_development_servers_log(serve):
    server = serve("scenario-1.py")

    assert server.get("/healthz").status_code == 200
    server.get("/webhooks/event?uuid=leg-1&status=ringing")

    printed = server.stop()
    assert "event ringing for leg leg-1" in printed  # the log is there...
    assert "/healthz" not in printed  # ...without the probe
