"""Captions of a composition: each clip's cues cut to its trim and shifted onto the composed timeline.

Pure functions over the transcription engines' Segment/Word types; the composition plan says where each
clip's trimmed span lands (`Part.offset`), and burning needs each clip's cues on its own clock (from 0).
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from videos.engines.cues import layout
from videos.engines.transcription.base import Segment, Word
from videos.media import process

CAPTION_FONT = "DejaVu Sans"  # fonts-dejavu-core: on every Debian machine with ffmpeg's libass
FALLBACK_FONT_FILE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
MIN_CUE_S = 0.05  # a sliver of a cue left at a cut is not worth showing
# libass (the `subtitles` filter) draws SRT on a 384x288 canvas scaled to the frame: size 18 is ~6% of the
# height (18: ~6%), with a 1.5-unit black outline and a shadow so white text stays readable on any picture.
BURN_STYLE = (
    f"FontName={CAPTION_FONT},FontSize=18,PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,"
    "BorderStyle=1,Outline=1.5,Shadow=0.5,MarginV=12"
)


def cut(segments: Iterable[Segment], start: float, end: float) -> list[Segment]:
    """The cues inside [start, end), clipped to it, on a clock that starts at `start`.

    A cue cut through keeps only the words said inside the span (its text rebuilt from them); a cue
    without word times keeps its text.
    """
    kept = []
    for segment in segments:
        if segment.end <= start or segment.start >= end:
            continue
        words = tuple(w for w in segment.words if w.end > start and w.start < end)
        if segment.words and not words:
            continue  # the span only overlaps the cue's silence
        text = segment.text if len(words) == len(segment.words) else _text(words, segment.text)
        first, last = max(segment.start, start), min(segment.end, end)
        if last - first < MIN_CUE_S or not text.strip():
            continue
        kept.append(
            Segment(
                start=round(first - start, 3),
                end=round(last - start, 3),
                text=text,
                words=tuple(
                    replace(w, start=round(max(w.start, start) - start, 3), end=round(min(w.end, end) - start, 3))
                    for w in words
                ),
            )
        )
    return kept


def shift(segments: Iterable[Segment], offset: float) -> list[Segment]:
    """The same cues `offset` seconds later."""
    return [
        replace(
            s,
            start=round(s.start + offset, 3),
            end=round(s.end + offset, 3),
            words=tuple(replace(w, start=round(w.start + offset, 3), end=round(w.end + offset, 3)) for w in s.words),
        )
        for s in segments
    ]


def _text(words: Sequence[Word], original: str) -> str:
    """Stored words are bare ("Hello"): give them back the spacing of the cue's language before laying out."""
    sep = " " if " " in original.replace("\n", " ") else ""
    return layout([replace(w, word=sep + w.word.strip()) for w in words])


@functools.cache
def caption_font() -> str:
    """The caption font's file (MoviePy draws with a font file; libass asks fontconfig by name)."""
    try:
        done = process.run(["fc-match", "-f", "%{file}", CAPTION_FONT], timeout=10)
        found = done.stdout.decode("utf-8", "replace").strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    return found if found and Path(found).is_file() else FALLBACK_FONT_FILE
