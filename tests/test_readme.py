"""README.md works as written: its "Try it without Vonage" is played in a fresh copy of the
project, its other commands name files and modules that exist, and every variable it names is
in .env.example."""

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

import settings as config
from testing.processes import ROOT, clean_env, free_port

README = (ROOT / "README.md").read_text()
# HTML comments are notes for the README's editors (placeholders), not instructions.
SHOWN = re.sub(r"<!--.*?-->", "", README, flags=re.S)
FENCE = re.compile(r"^( *)```(\w*)\n(.*?)\n\1```$", re.M | re.S)

# Upper-case words in backticks that are not environment variables.
NOT_VARIABLES = {"GET", "POST", "HEAD", "PUT", "DELETE", "DEBUG", "HEALTHCHECK"}


def section(title):
    """The text of the README's `## title` section, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", SHOWN, re.M | re.S)
    assert match, f"the README has no '## {title}' section"
    return match.group(1)


def blocks(text):
    """(language, content) of each fenced block, without the indentation of a list item."""
    found = []
    for indent, language, content in FENCE.findall(text):
        lines = [line[len(indent) :] for line in content.splitlines()]
        found.append((language, "\n".join(lines)))
    return found


def commands(text, language="sh"):
    """Every command line in the text's code blocks of `language`."""
    return [
        line
        for lang, content in blocks(text)
        if lang == language
        for line in content.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def walkthrough():
    """The "Try it without Vonage" commands in order, each with the output the README shows
    for it (the plain block right after it), or None when it shows none."""
    steps = []
    for language, content in blocks(section("Try it without Vonage")):
        if language == "sh":
            steps.append([content, None])
        elif language == "" and steps and steps[-1][1] is None:
            steps[-1][1] = content
    return steps


def shown_as(shown):
    """A pattern for output the README shows, where `...` stands for whatever was cut."""
    return re.compile(".*?".join(re.escape(part) for part in shown.split("...")), re.S)


def venv_tool(name):
    """The path of a tool in the virtual environment running these tests."""
    return Path(sys.prefix) / "bin" / name


@pytest.fixture
def fresh_clone(tmp_path):
    """The project as a clone has it (no .env, key or state), its .venv the tests' own."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("run the tests with .venv/bin/python, as the README says")
    for tool in ("curl", "openssl"):
        if shutil.which(tool) is None:
            if os.environ.get("CI"):
                pytest.fail(f"no {tool}: CI must install it")
            pytest.skip(f"{tool} is not installed")
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".env", "private.key", "conference.sqlite3*", "*cache*", ".hypothesis"
        ),
    )
    (copy / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return copy


def test_try_it_step_1_keeps_an_existing_env_and_key_and_succeeds(fresh_clone):
    [(step_1, _), *_] = walkthrough()
    (fresh_clone / ".env").write_text("VONAGE_APPLICATION_ID=mine\n")
    (fresh_clone / "private.key").write_text("my real key")

    result = subprocess.run(["sh", "-c", step_1], cwd=fresh_clone, capture_output=True)

    assert result.returncode == 0
    assert (fresh_clone / ".env").read_text() == "VONAGE_APPLICATION_ID=mine\n"
    assert (fresh_clone / "private.key").read_text() == "my real key"


def test_try_it_without_vonage_plays_a_whole_call_as_written(fresh_clone):
    text = section("Try it without Vonage")
    steps = walkthrough()
    port, server, ran = free_port(), None, []
    log = fresh_clone.parent / "server.log"
    output = log.open("w")  # a file, not a pipe, which a chatty server could fill
    try:
        for command, shown in steps:
            if command.startswith("curl "):
                assert server is not None, f"{command!r} comes before the server starts"
                result = subprocess.run(
                    ["sh", "-c", command.replace("localhost:9000", f"localhost:{port}")],
                    cwd=fresh_clone,
                    env=clean_env(),
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                assert result.returncode == 0, (command, result.stderr)
                if shown is None:
                    assert result.stdout == "", command
                else:
                    assert shown_as(shown).fullmatch(result.stdout.rstrip("\n")), (
                        command,
                        result.stdout,
                    )
            elif command == ".venv/bin/python scenario-2.py":
                server = subprocess.Popen(
                    shlex.split(command),
                    cwd=fresh_clone,
                    env=clean_env(PORT=str(port)),  # the one thing changed: a free port
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
                deadline = time.monotonic() + 20
                while True:
                    try:
                        requests.get(f"http://localhost:{port}/healthz", timeout=2)
                        break
                    except requests.ConnectionError:
                        assert server.poll() is None, log.read_text()
                        assert time.monotonic() < deadline, log.read_text()
                        time.sleep(0.1)
            else:
                result = subprocess.run(
                    ["sh", "-c", command], cwd=fresh_clone, capture_output=True, timeout=60
                )
                assert result.returncode == 0, (command, result.stderr)
            ran.append(command)
        pages = re.findall(r"http://localhost:9000/\S*", FENCE.sub("", text))  # to open
        for url in pages:
            page = requests.get(url.replace(":9000", f":{port}"), timeout=5)
            assert page.status_code == 200, url
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        output.close()

    printed = log.read_text()
    assert ran == [command for command, _ in steps]
    assert pages  # the control page, opened as the README says
    assert sum(command.startswith("curl ") for command in ran) >= 5
    assert "Traceback" not in printed
    for line in re.findall(r"`(event \w+ for leg [\w-]+)`", text):
        assert line in printed


def test_try_it_without_vonage_key_made_with_python_is_one_scenario_2_accepts(tmp_path):
    [line] = [
        line for line in commands(section("Try it without Vonage"), "powershell") if " -c " in line
    ]
    program, _, rest = line.partition(" ")
    arguments = shlex.split(rest)  # PowerShell keeps the double-quoted code as it is

    subprocess.run([sys.executable, *arguments], cwd=tmp_path, check=True, timeout=60)

    assert program == r".venv\Scripts\python"
    assert config.read_private_key(str(tmp_path / "private.key")).startswith(
        "-----BEGIN PRIVATE KEY-----"
    )


def every_command():
    """The README's commands: its sh and PowerShell blocks, and code in its text that starts
    with the virtual environment (such as `.venv/bin/python scenario-1.py`)."""
    inline = re.findall(r"`(\.venv(?:/bin/|\\Scripts\\)[^`]+)`", SHOWN)
    found = [*commands(SHOWN), *commands(SHOWN, "powershell"), *inline]
    return [part.strip() for command in found for part in re.split(r"&&|\|\|", command)]


@pytest.mark.parametrize("command", every_command())
def test_readme_command_names_tools_files_and_modules_that_exist(command):
    program, *arguments = shlex.split(command.replace("\\", "/"))
    tool = program.removeprefix(".venv/bin/").removeprefix(".venv/Scripts/")

    if program == "docker":  # the image the Dockerfile builds, under the name the README uses
        assert (ROOT / "Dockerfile").is_file()
        assert arguments[-1] in ("vonage-audio-stream", "."), command
    elif tool == program:  # not from the virtual environment
        assert program in {"python3", "py", "cp", "openssl", "curl", "test"}, command
    else:
        assert venv_tool(tool).exists(), command
    if program == "cp" or tool == "pip":
        assert (ROOT / arguments[-2 if program == "cp" else -1]).is_file(), command
    if tool in {"python", "python3", "py"} and arguments[0] == "-m":
        assert importlib.util.find_spec(arguments[1]) is not None, command
    elif tool in {"python", "python3"} and arguments[0] != "-c":
        assert (ROOT / arguments[0]).is_file(), command
    if tool == "flask":
        module = arguments[arguments.index("--app") + 1]
        assert callable(importlib.import_module(module).create_app), command
    if tool == "gunicorn":
        module, _, call = arguments[0].partition(":")
        assert call == "create_app()"
        assert callable(importlib.import_module(module).create_app), command


def test_every_command_kind_is_checked():
    checked = every_command()

    assert ".venv/bin/python scenario-2.py" in checked
    assert ".venv/bin/flask --app scenario-1 run --port 9000" in checked
    assert ".venv/bin/python serve.py scenario-2" in checked
    assert ".venv/bin/python bench/run.py" in checked
    assert r".venv\Scripts\python scenario-1.py" in checked
    assert "docker build -t vonage-audio-stream ." in checked


def test_every_variable_the_readme_names_is_in_env_example():
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    named = {
        *re.findall(r"`([A-Z][A-Z0-9_]+)(?:=[^`]*)?`", SHOWN),
        *re.findall(r"\$([A-Z][A-Z0-9_]+)", SHOWN),
        *(
            name
            for command in every_command()
            for name in re.findall(r"^([A-Z][A-Z0-9_]*)=", command)
        ),
    }

    assert len(named) > 10  # the patterns still find the variables
    assert named - NOT_VARIABLES <= documented


def test_readme_is_at_most_20_kb_with_troubleshooting_before_the_reference_and_performance_last():
    headings = re.findall(r"^## (.+)$", SHOWN, re.M)
    order = [
        "Quick start",
        "Try it without Vonage",
        "Tutorial walkthrough",
        "Configuration",
        "Troubleshooting",
        "Security",
        "Deploy",
        "Performance",
    ]

    assert len(README.encode()) <= 20 * 1024
    assert [heading for heading in headings if heading in order] == order
    assert headings[-1] == "Performance"
    assert "bench/README.md" in section("Performance")
