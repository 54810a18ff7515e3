"""Audio files of this server's own: the `audio/` folder, served to Vonage at /audio/NAME, and
checked at start-up so that a file Vonage cannot play stops the server instead of the call
falling silent.

Vonage plays "an mp3 or wav (16-bit) audio file" (NCCO reference, `stream`:
https://developer.vonage.com/en/voice/voice-api/ncco-reference#stream); its SDKs add "a
single-channel 16-bit WAV at 8kHz or 16kHz, or an MP3 file" (Vonage .NET SDK, StreamCommand:
https://vonage.github.io/vonage-dotnet-sdk/api/Vonage.Voice.StreamCommand.html).
"""

import re
import wave
from pathlib import Path

from flask import Blueprint, abort, send_from_directory

FOLDER = Path(__file__).resolve().parent / "audio"
ROUTE = "/audio/"
# A plain file name: no folder, no dot first (hidden files), only the two kinds Vonage plays.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\.(mp3|wav)")
TYPES = {"mp3": "audio/mpeg", "wav": "audio/wav"}
# Vonage fetches the file at each stream; a day's cache spares the fetches, and a changed file
# reaches calls within a day (or at once under a new name).
MAX_AGE = 24 * 3600
WAV_RATES = (8000, 16000)

# MPEG audio frame headers (ISO 11172-3, 13818-3): bit rates in kbit/s by version and index,
# sample rates in Hz by version and index. Version bits: 3 MPEG-1, 2 MPEG-2, 0 MPEG-2.5.
_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def local_name(value):
    """The file name if `value` names a file of the audio folder (`audio/NAME.mp3`), else None."""
    name = value.removeprefix("audio/")
    return name if name != value and NAME.fullmatch(name) else None


def check_file(path):
    """The length in seconds of the audio file at `path`, if Vonage can play it; else
    ValueError saying what is wrong and what to give instead."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"there is no file {path}: put your audio file there") from None
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    if path.suffix == ".wav":
        return wav_seconds(path)
    return mp3_seconds(data, path)


def mp3_seconds(data, path="the file"):
    """The length of MP3 `data`, walking its frames; ValueError unless it holds MPEG audio
    Layer III frames, one after the other, from the first to the end."""
    start = _after_id3(data)
    frames, samples, rate, at = 0, 0, None, start
    while at + 4 <= len(data):
        frame = _frame(data[at : at + 4])
        if frame is None:
            break
        length, frame_samples, rate = frame
        frames, samples, at = frames + 1, samples + frame_samples, at + length
    # What may follow the last frame: an ID3v1 tag (128 bytes), or a frame cut short.
    rest = data[at:]
    if frames < 2 or not (len(rest) < 1500 or rest.startswith(b"TAG") and len(rest) == 128):
        raise ValueError(
            f"{path} is not an MP3 file (no MPEG audio frames from its start to its end): "
            "convert it to MP3, or to a 16-bit mono WAV"
        )
    return samples / rate


def _after_id3(data):
    """Where the audio starts: after an ID3v2 tag, whose size is 4 bytes of 7 bits."""
    if data[:3] != b"ID3" or len(data) < 10:
        return 0
    size = 0
    for byte in data[6:10]:
        size = size << 7 | (byte & 0x7F)
    return 10 + size + (10 if data[5] & 0x10 else 0)  # a footer repeats the header


def _frame(header):
    """(length in bytes, samples, sample rate) of the Layer III frame `header` starts, or None."""
    b0, b1, b2, _ = header
    version, layer = (b1 >> 3) & 3, (b1 >> 1) & 3
    bitrate_index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if b0 != 0xFF or b1 >> 5 != 7 or version == 1 or layer != 1:  # sync, version, Layer III
        return None
    if bitrate_index in (0, 15) or rate_index == 3:  # free format, bad, reserved
        return None
    bitrate = _BITRATES[3 if version == 3 else 2][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    samples = 1152 if version == 3 else 576
    return samples // 8 * bitrate // rate + padding, samples, rate


def wav_seconds(path):
    """The length of the WAV file at `path`; ValueError unless it is 16-bit PCM, one channel,
    at 8 or 16 kHz."""
    fix = "save it as 16-bit PCM WAV, mono, at 8000 or 16000 Hz, or as MP3"
    try:
        with wave.open(str(path), "rb") as sound:
            width, channels = sound.getsampwidth(), sound.getnchannels()
            rate, frames = sound.getframerate(), sound.getnframes()
    except (wave.Error, EOFError) as error:
        raise ValueError(f"{path} is not a PCM WAV file ({error}): {fix}") from None
    if width != 2 or channels != 1 or rate not in WAV_RATES or not frames:
        found = f"{8 * width}-bit, {channels} channel(s), {rate} Hz, {frames} samples"
        raise ValueError(f"{path} is {found}; Vonage plays 16-bit mono: {fix}")
    return frames / rate


# Vonage fetches the files without a signature or a token: anyone may, as with any public URL.
files = Blueprint("audio", __name__)


@files.get(f"{ROUTE}<name>")
def audio_file(name):
    """An audio file for Vonage to play (GET and HEAD, with Range and conditional requests)."""
    kind = NAME.fullmatch(name)
    if not kind:
        abort(404, "no such audio file: only .mp3 and .wav files of the audio folder are served")
    return send_from_directory(
        FOLDER, name, mimetype=TYPES[kind.group(1)], conditional=True, max_age=MAX_AGE
    )
