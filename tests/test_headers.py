"""Protective headers: no response is sniffed into another type; the control page runs only its
own script and styles, cannot be framed, and never sends its URL (with the token) elsewhere."""

import re

import pytest

import settings as config
from testing.processes import ROOT

SECRET = "a-signature-secret-of-32-chars-or-more"
TOKEN = "owner-token-0123456789"
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE_ONLY = set(PAGE_HEADERS) - {"X-Content-Type-Options"}


@pytest.fixture(params=["scenario1", "scenario2"])
def secured_client(request, settings2):
    """Either scenario with signed webhooks and an owner's token."""
    module = request.getfixturevalue(request.param)
    settings = config.Settings(
        **{**vars(settings2), "signature_secret": SECRET, "control_token": TOKEN}
    )
    return module.create_app(settings).test_client()


@pytest.fixture
def client2_owned(scenario2, settings2):
    """Scenario 2 with CONTROL_TOKEN set."""
    return scenario2.create_app(
        config.Settings(**{**vars(settings2), "control_token": TOKEN})
    ).test_client()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/webhooks/answer", 200),  # unsigned: the plain NCCO
        ("POST", "/webhooks/event", 401),
        ("GET", "/healthz", 200),
        ("HEAD", "/healthz", 200),
        ("GET", "/no-such-page", 404),
        ("DELETE", "/healthz", 405),
        ("GET", "/static/control.js", 200),
        ("GET", "/static/control.css", 200),
    ],
)
def test_every_response_of_either_scenario_forbids_type_sniffing(
    secured_client, method, path, status
):
    with secured_client.open(path, method=method) as response:  # a file's answer holds it open
        assert response.status_code == status
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert PAGE_ONLY.isdisjoint(response.headers.keys())  # a page's policy is for pages


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/status?token={TOKEN}", 200),
        (f"/stream?token={TOKEN}", 409),
        (f"/stream/stop?token={TOKEN}", 409),
        ("/status", 401),
        ("/", 401),
    ],
)
def test_every_json_answer_of_scenario_2_forbids_type_sniffing(client2_owned, path, status):
    response = client2_owned.get(path)

    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert PAGE_ONLY.isdisjoint(response.headers.keys())


def test_the_control_page_runs_only_its_own_files_cannot_be_framed_and_sends_no_referrer(
    client2_owned,
):
    response = client2_owned.get(f"/?token={TOKEN}")

    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in PAGE_HEADERS} == PAGE_HEADERS


def test_the_control_page_has_nothing_inline_that_its_policy_would_block(client2_owned):
    html = client2_owned.get(f"/?token={TOKEN}").get_data(as_text=True)

    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="static/control.js">']
    assert re.findall(r"<script\b[^>]*>\s*[^<\s]", html) == []  # no inline code
    assert re.findall(r'<link rel="stylesheet"[^>]*>', html) == [
        '<link rel="stylesheet" href="static/control.css">'
    ]
    assert "<style" not in html
    assert not re.search(r"\s(style|on[a-z]+)=", html)  # no style attributes or handlers
    assert re.findall(r'<link rel="icon"[^>]*>', html) == ['<link rel="icon" href="data:,">']


@pytest.mark.parametrize(
    ("name", "content_type"),
    [("control.js", "text/javascript; charset=utf-8"), ("control.css", "text/css; charset=utf-8")],
)
def test_the_pages_script_and_styles_need_no_token_and_carry_their_true_type(
    client2_owned, name, content_type
):
    with client2_owned.get(f"/static/{name}") as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == content_type
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.data == (ROOT / "static" / name).read_bytes()
