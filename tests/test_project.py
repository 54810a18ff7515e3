"""The files a new user reads stay true to the code: README commands, .env.example, .gitignore."""

import re
from pathlib import Path

import settings as config
import startup

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


def test_env_example_documents_every_declared_variable_with_a_comment_above_it():
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {
        line.split("=")[0]: lines[i - 1]
        for i, line in enumerate(lines)
        if re.match(r"[A-Z_]+=", line)
    }

    assert sorted(documented) == sorted(config.VARIABLE_NAMES)
    for name, above in documented.items():
        assert above.startswith("#") or re.match(r"[A-Z_]+=", above), name


def test_readme_configuration_table_has_a_row_per_declared_variable_saying_who_reads_it():
    rows = re.findall(r"^\| ((?:`[A-Z_]+`(?: / )?)+) \| ([^|]+) \|", README, re.M)
    used_by = {
        name: who.strip() for names, who in rows for name in re.findall(r"`([A-Z_]+)`", names)
    }

    assert used_by == {variable.name: variable.used_by for variable in config.VARIABLES}


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
        line.strip() for line in startup.banner(settings, "Scenario 1").splitlines()
    ]
