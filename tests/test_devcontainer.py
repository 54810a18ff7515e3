"""The Codespace configuration: valid JSON with comments, and everything the README promises."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
