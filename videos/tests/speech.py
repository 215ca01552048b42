"""Known English speech for transcription quality checks (tests and bench/bench_transcribe.py).

The sentences are the first two lists of the Harvard sentences (IEEE 1969), phonetically balanced and
the usual material for speech tests; espeak-ng reads them, so the words said are exactly known.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings

HARVARD_SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
]


def spoken_wav(path: Path, text: str, *, voice: str = "en-us", wpm: int = 150) -> Path:
    """espeak-ng reading `text` as a 16 kHz mono 16-bit WAV (what the engines are given)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True, timeout=300)
    subprocess.run(
        [settings.FFMPEG_BINARY, "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
         "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(path)],
        check=True, timeout=300,
    )  # fmt: skip
    raw.unlink()
    return path
