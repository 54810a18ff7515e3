"""The Codespace configuration: valid JSON with comments, and everything the README promises."""

import json
import re
import shutil
import subprocess
import sys

import pytest
from conftest import API_KEY

from testing.processes import ROOT, clean_env


def devcontainer():
    text = (ROOT / ".devcontainer" / "devcontainer.json").read_text()
    # The spec allows // comments; ours stand on lines of their own.
    return json.loads(re.sub(r"^\s*//.*$", "", text, flags=re.M))


def test_image_is_the_python_version_the_readme_names():
    image = devcontainer()["image"]

    version = re.fullmatch(
        r"mcr\.microsoft\.com/devcontainers/python:1-(3\.\d+)-bookworm", image
    ).group(1)
    assert f"Python {version}" in (ROOT / "README.md").read_text()


def test_post_create_installs_the_requirements_into_the_readme_venv():
    config = devcontainer()

    assert config["postCreateCommand"] == (
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-test.txt"
    )
    assert "ghcr.io/devcontainers/features/github-cli:1" in config["features"]
    assert "ms-python.python" in config["customizations"]["vscode"]["extensions"]


def test_port_9000_is_forwarded_labelled_and_made_public_on_attach():
    config = devcontainer()

    assert config["forwardPorts"] == [9000]
    assert config["portsAttributes"]["9000"]["label"] == "Vonage webhooks"
    command = config["postAttachCommand"]
    assert command.startswith('gh codespace ports visibility 9000:public -c "$CODESPACE_NAME"')
    assert "|| echo 'Could not make port 9000 public automatically" in command


@pytest.fixture
def codespace(project, tmp_path_factory):
    """Run the attach command as a Codespace does, in a fresh clone whose .venv is the tests'
    own, with a `gh` that makes the port public; returns its output."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("run the tests with .venv/bin/python, as the README says")
    shutil.copy(ROOT / ".env.example", project / ".env.example")
    (project / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    tools = tmp_path_factory.mktemp("bin")
    (tools / "gh").write_text("#!/bin/sh\nexit 0\n")
    (tools / "gh").chmod(0o755)

    def attach(**secrets):
        env = clean_env(
            CODESPACE_NAME="fuzzy-lamp-x7",
            GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN="app.github.dev",
            **secrets,
        )
        env["PATH"] = f"{tools}:{env['PATH']}"
        return subprocess.run(
            ["bash", "-c", devcontainer()["postAttachCommand"]],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    return attach


def test_attach_without_the_secrets_says_how_to_add_them(codespace):
    result = codespace()

    assert result.stdout.splitlines() == [
        "Port 9000 is public: Vonage can reach your webhooks.",
        "To set Vonage up by itself, add VONAGE_API_KEY and VONAGE_API_SECRET "
        "(dashboard.nexmo.com > API Settings) as Codespace secrets for this repository "
        "(github.com > Settings > Codespaces > New secret), then restart the Codespace; or "
        "follow the README by hand.",
    ]


def test_attach_with_the_secrets_runs_the_setup_for_the_codespace_url(
    codespace, account, api_secret
):
    account.add_number("447700900001")

    result = codespace(
        VONAGE_API_KEY=API_KEY,
        VONAGE_API_SECRET=api_secret,
        VONAGE_SETUP_API_HOST=account.host,
        VONAGE_SETUP_REST_HOST=account.host,
        REQUESTS_CA_BUNDLE=str(account.ca_file),
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "Port 9000 is public: Vonage can reach your webhooks.",
        "VONAGE_API_KEY and VONAGE_API_SECRET are set: running .venv/bin/python setup-vonage.py",
    ]
    assert lines[-1].startswith("Start .venv/bin/python scenario-1.py and call +447700900001")
    (application,) = account.applications.values()
    hooks = application["capabilities"]["voice"]["webhooks"]
    assert hooks["answer_url"]["address"] == (
        "https://fuzzy-lamp-x7-9000.app.github.dev/webhooks/answer"
    )
    assert api_secret not in result.stdout + result.stderr
