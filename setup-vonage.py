"""Set up Vonage for this project: an application whose webhooks reach this server, a number
linked to it, its id in .env and its key in private.key. Run it again whenever the public URL
changes; when nothing needs to change, it changes nothing.

    .venv/bin/python setup-vonage.py [--dry-run] [--force]

Needs VONAGE_API_KEY and VONAGE_API_SECRET (dashboard.nexmo.com > API Settings) in .env or the
environment, and a public URL: PUBLIC_URL, else the Codespace's forwarded port.
"""

import argparse
import logging
import sys

import settings
import vonage_setup


def main(argv=None):
    parser = argparse.ArgumentParser(description="Point a Vonage application and number here.")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, only")
    parser.add_argument(
        "--force", action="store_true", help="link the number even if another application has it"
    )
    args = parser.parse_args(argv)
    # The SDK logs each error answer as a warning; this script says it in one line instead.
    logging.getLogger("vonage").disabled = True

    env = settings.read_environment()
    try:
        public_url = settings.load(env).public_url
    except settings.SettingsError as error:
        fail(*error.problems)
    try:
        vonage = vonage_setup.client(env)
        todo = vonage_setup.plan(vonage, env, public_url, force=args.force, project_dir=PROJECT)
        if not todo.steps:
            print(
                f"Already set up: application {todo.application_id} sends calls to "
                f"{todo.answer_url} and +{todo.number['msisdn']} is linked to it; nothing changed."
            )
        elif args.dry_run:
            print("Dry run: nothing changed. Without --dry-run, this would:")
            print(*(f"  {step}" for step in todo.steps), sep="\n")
            return
        else:
            vonage_setup.apply(vonage, todo, project_dir=PROJECT)
    except vonage_setup.SetupError as error:
        fail(f"{error} ({settings.HINT})")
    print(
        f"Start .venv/bin/python scenario-1.py and call +{todo.number['msisdn']}: you will "
        "hear the music (with scenario-2.py, the conference greeting)."
    )


def fail(*lines):
    """Stop with exit status 2 and the lines that say what to fix."""
    print(*lines, sep="\n", file=sys.stderr)
    sys.exit(2)


PROJECT = settings.PROJECT_DIR

if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - one line, and never a secret from a traceback
        fail(
            f"setup-vonage.py stopped on an unexpected {type(error).__name__} (details are "
            "not shown, as they may hold a secret): run it again, or set Vonage up by hand "
            "(README: Tutorial walkthrough)"
        )
