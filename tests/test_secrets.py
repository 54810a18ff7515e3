"""Nothing secret is ever committed: no real-looking private key, no filled-in .env, no JWT."""

import re
import subprocess

import pytest

from testing.processes import ROOT

# A PEM block with a body: what a real key looks like, as opposed to prose mentioning one.
PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s+[A-Za-z0-9+/=\s]{64,}")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")


def tracked_files():
    """The files git tracks; in an export without .git, every file but the venv and caches."""
    try:
        names = (
            subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
            .stdout.decode()
            .split("\0")
        )
        return [ROOT / name for name in names if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}
        return [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.parts)]


@pytest.mark.parametrize("pattern", [PEM_KEY, JWT], ids=["private key", "JWT"])
def test_no_tracked_file_holds_a_real_looking_secret(pattern):
    found = [
        str(p.relative_to(ROOT))
        for p in tracked_files()
        if p.exists() and pattern.search(p.read_text(errors="ignore"))
    ]

    assert found == []


def test_the_patterns_catch_what_they_are_for(private_pem):
    assert PEM_KEY.search(private_pem)
    assert not PEM_KEY.search((ROOT / "private.key.example").read_text())


def test_no_dotenv_or_private_key_is_tracked_unless_it_only_holds_placeholders():
    tracked = {p.name: p for p in tracked_files()}

    assert "private.key" not in tracked
    if ".env" in tracked:  # only the example's own empty placeholders would be acceptable
        example = (ROOT / ".env.example").read_text()
        assert tracked[".env"].read_text() == example
