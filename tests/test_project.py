"""The files a new user reads stay true to the code: README commands, .env.example, .gitignore."""

import re
from pathlib import Path

import settings as config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands():
    return re.findall(r"```sh\n(.+?)\n```", README)


def test_readme_quick_start_gives_two_commands_and_ci_runs_the_second_verbatim():
    setup, test = readme_commands()[:2]
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()

    assert setup.endswith(".venv/bin/python scenario-1.py")
    assert test.endswith(".venv/bin/python -m pytest")
    assert ci_lines[-1] == test


def test_env_example_documents_every_variable_the_scripts_read():
    names = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    read = {
        name
        for script in ("settings.py", "gunicorn.conf.py", "vonage_setup.py")
        for name in re.findall(r'(?:take|env\.get)\("([A-Z_]+)"', (ROOT / script).read_text())
    }

    set_by_codespaces = {"CODESPACE_NAME", "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN"}
    tests_only = {"VONAGE_SETUP_API_HOST", "VONAGE_SETUP_REST_HOST"}  # see vonage_setup.py

    assert len(read) > 10  # the pattern still finds what settings.py reads
    assert read - set_by_codespaces - tests_only == names


def test_readme_configuration_table_lists_every_variable_in_env_example():
    names = re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)

    for name in names:
        assert f"`{name}`" in README, name


def test_gitignore_keeps_secrets_and_the_venv_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()

    assert {".env", "private.key", ".venv/"} <= set(ignored)


def test_readme_shows_the_banner_scenario_1_prints_in_a_codespace():
    settings = config.load(
        {
            "CODESPACE_NAME": "fuzzy-lamp-x7",
            "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev",
        }
    )
    shown = re.search(r"```text\n(.+?)\n *```", README, re.S).group(1)

    assert [line.strip() for line in shown.splitlines()] == [
        line.strip() for line in config.banner(settings, "Scenario 1").splitlines()
    ]
