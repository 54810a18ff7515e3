"""Scenario 3's downloads: a recording Vonage made, fetched with the application's JWT in the
background, retried with backoff, and kept in the mailbox (conference_store/mailbox.py)."""

import os
import threading
import time
from urllib.parse import urlsplit

import requests

import webhooks
from conference_store import StoreError
from conference_store.mailbox import TooLarge

# Vonage keeps a recording for 30 days after the call, then deletes it (its recording guide,
# https://developer.vonage.com/en/voice/voice-api/guides/recording, as we read it; not
# re-checked against the live page): a download still failing then never will.
RETENTION = 30 * 24 * 3600
TIMEOUT = 10  # seconds to connect, and between two chunks of the file
# A download is claimed for this long: another process takes it over only if this one dies.
LEASE = 5 * 60
FIRST_RETRY, LAST_RETRY = 2, 3600  # seconds: the pause doubles from one to the other
POLL = 30  # seconds between looks for due downloads (a webhook wakes the thread at once)


def recording_url(raw, api_host=None):
    """`raw` if it is an https URL on a Vonage host (or VONAGE_API_HOST, which the user set),
    else None: the application's JWT must never go anywhere else."""
    parts = urlsplit(raw or "")
    if parts.scheme != "https" or parts.query or parts.fragment:
        return None
    if webhooks.VONAGE_HOST.fullmatch(parts.netloc) or (api_host and parts.netloc == api_host):
        return raw
    return None


def backoff(attempts):
    """The pause before the next try, after `attempts` failures: 2 s, 4 s, 8 s... to 1 hour."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LAST_RETRY)


class DownloadFailed(Exception):
    """Vonage did not hand over the recording; says why."""


class Downloader:
    """One background thread per process that downloads the mailbox's due recordings.

    It starts on first use in each process (Gunicorn forks its workers after building the
    app, and a thread does not survive a fork), then looks for due downloads when the soonest
    one falls due (whichever process scheduled it), at least every POLL seconds, and at once
    when `wake()` is called.
    """

    def __init__(self, mailbox, auth, logger):
        self.mailbox, self.auth, self.logger = mailbox, auth, logger
        self._wake, self._pid = threading.Event(), None
        self._lock, self._thread, self._stopping = threading.Lock(), None, False

    def ensure_running(self):
        with self._lock:
            if self._pid != os.getpid() and not self._stopping:
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="downloads", daemon=True)
                self._thread.start()

    def stop(self):
        """Let the thread finish what it is doing, and end it (before the store is closed)."""
        with self._lock:
            self._stopping = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout=30)

    def wake(self):
        self.ensure_running()
        self._wake.set()

    def _loop(self):
        while not self._stopping:
            try:
                self.run_due()
                soonest = self.mailbox.next_due()
            except StoreError as error:  # the store is down: try again later
                self.logger.warning("recordings to download: %s", error)
                soonest = None
            wait = POLL if soonest is None else min(POLL, max(0.05, soonest - time.time()))
            self._wake.wait(wait)
            self._wake.clear()

    def run_due(self):
        """Download every recording due now."""
        for pending in self.mailbox.due(time.time(), LEASE):
            self.attempt(pending)

    def attempt(self, pending):
        """Download one recording and keep it; on failure, schedule the next try or give up."""
        if time.time() - pending.left_at > RETENTION:
            self.mailbox.give_up(pending.id)
            self.logger.error(
                "gave up on message %s from %s after %d tries: Vonage keeps recordings %d days",
                pending.id,
                pending.caller or "unknown",
                pending.attempts,
                RETENTION // 86400,
            )
            return
        try:
            audio = self.fetch(pending.url)
            dropped = self.mailbox.keep(pending.id, audio)
        except DownloadFailed as error:
            self.retry(pending, error)
            return
        except TooLarge as error:  # the same file again would be as large
            self.mailbox.give_up(pending.id)
            self.logger.error("gave up on message %s: %s", pending.id, error)
            return
        except StoreError as error:  # its lease lapses and it is tried again
            self.logger.warning("message %s not kept yet: %s", pending.id, error)
            return
        self.logger.info("kept message %s (%d bytes)", pending.id, len(audio))
        for old in dropped or ():
            self.logger.info(
                "dropped the oldest message %s: the mailbox keeps %d",
                old,
                self.mailbox.max_messages,
            )

    def retry(self, pending, error):
        attempts = pending.attempts + 1
        when = time.time() + backoff(attempts)
        self.mailbox.retry_at(pending.id, when, attempts)
        self.logger.warning(
            "download of message %s failed (%s): try %d again in %d s",
            pending.id,
            error,
            attempts + 1,
            backoff(attempts),
        )

    def fetch(self, url):
        """The recording's bytes, fetched with the application's JWT.

        The SDK's `download_file_stream` sends the same request, but with no timeout (a
        stalled transfer would hold this thread for ever) and no size limit, so this makes it
        with the SDK's Auth and requests, as the SDK does.
        """
        headers = {"Authorization": self.auth.create_jwt_auth_string().decode()}
        try:
            with requests.get(url, headers=headers, stream=True, timeout=TIMEOUT) as response:
                if response.status_code != 200:
                    raise DownloadFailed(f"Vonage answered {response.status_code}")
                audio = bytearray()
                for chunk in response.iter_content(64 * 1024):
                    audio += chunk
                    if len(audio) > self.mailbox.max_bytes:
                        raise TooLarge(f"over the {self.mailbox.max_bytes} bytes a message takes")
                return bytes(audio)
        except requests.RequestException as error:
            raise DownloadFailed(type(error).__name__) from None
