"""PocketSphinx decoding in a child process, so the parent keeps its GIL and can kill a decode at once.

Run as a script by PocketSphinxEngine (`python -P sphinx_worker.py`), never imported by Django code:
it needs only the standard library and pocketsphinx (no Django, no settings, no database).

Protocol: one JSON job on stdin, {"wav": path, "spans": [[first_sample, end_sample], ...]}; for each
span, in order, one JSON line on stdout, {"words": [[token, start_s, end_s], ...]} with every token
the decoder produced (fillers included) and times in seconds from the start of the file; on failure
one line {"error": message} and exit status 1. The C library's own output goes to stderr.
"""

from __future__ import annotations

import json
import os
import sys
import wave
from collections.abc import Callable
from typing import Any, TextIO

SAMPLE_RATE = 16000


class WorkerError(Exception):
    """A failure whose message is reported to the parent as is."""


def main() -> int:
    """Read the job, decode every span, answer line by line; 1 after reporting an error."""
    protocol = _protocol_stream()

    def send(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    try:
        job = json.loads(sys.stdin.read())
        decode(job["wav"], [(int(first), int(last)) for first, last in job["spans"]], send)
    except WorkerError as exc:
        send({"error": str(exc)})
        return 1
    except BrokenPipeError:  # the parent went away: nobody to answer
        return 1
    except Exception as exc:  # noqa: BLE001 - anything else is reported with its type
        send({"error": f"PocketSphinx worker failed: {type(exc).__name__}: {exc}"})
        return 1
    return 0


def decode(wav_path: str, spans: list[tuple[int, int]], send: Callable[[dict[str, Any]], None]) -> None:
    """Decode each span of the WAV as one whole utterance (batch normalisation hears far more words)."""
    name = os.path.basename(wav_path)
    try:
        reader = wave.open(wav_path, "rb")
    except (wave.Error, EOFError) as exc:
        raise WorkerError(f"{name}: not a PCM WAV file ({exc})") from exc
    except OSError as exc:
        raise WorkerError(f"cannot read the audio file {name}: {exc.strerror or exc}") from exc
    with reader:
        layout = (reader.getframerate(), reader.getnchannels(), reader.getsampwidth())
        if layout != (SAMPLE_RATE, 1, 2):
            raise WorkerError(
                f"{name}: PocketSphinx needs 16 kHz mono 16-bit audio, got {layout[0]} Hz "
                f"with {layout[1]} channels and {8 * layout[2]}-bit samples"
            )
        decoder = _decoder()
        frame_rate = int(decoder.config["frate"])  # feature frames per second (100)
        for first, last in spans:
            if not 0 <= first <= last <= reader.getnframes():
                raise WorkerError(
                    f"{name}: the audio ends at {reader.getnframes() / SAMPLE_RATE:.2f} s, "
                    f"before {last / SAMPLE_RATE:.2f} s (was the file changed?)"
                )
            reader.setpos(first)
            raw = reader.readframes(last - first)
            decoder.start_utt()
            decoder.process_raw(raw, False, True)
            decoder.end_utt()
            offset = first / SAMPLE_RATE
            words = [
                # end_frame is inclusive
                [item.word, offset + item.start_frame / frame_rate, offset + (item.end_frame + 1) / frame_rate]
                for item in decoder.seg() or ()  # None when nothing was heard (a few ms of audio)
            ]
            send({"words": words})


def _decoder():  # noqa: ANN202 - pocketsphinx ships no type information
    """The bundled en-us model, loaded once per child."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise WorkerError("PocketSphinx is not installed (pip install pocketsphinx)") from exc
    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")


def _protocol_stream() -> TextIO:
    """A private copy of stdout for answers; fd 1 then points at stderr so library prints cannot garble them."""
    stream = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return stream


if __name__ == "__main__":
    sys.exit(main())
