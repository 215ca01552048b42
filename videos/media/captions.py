"""Captions of a composition: each clip's cues cut to its trim and shifted onto the composed timeline.

Pure functions over the transcription engines' Segment/Word types; the composition plan says where each
clip's trimmed span lands (`Part.offset`), and burning needs each clip's cues on its own clock (from 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from videos.engines.cues import layout
from videos.engines.transcription.base import Segment, Word

MIN_CUE_S = 0.05  # a sliver of a cue left at a cut is not worth showing
# libass (the `subtitles` filter) draws SRT on a 384x288 canvas scaled to the frame: size 16 is ~6% of the
# height, with a 1.5-unit black outline and a shadow so white text stays readable on any picture.
BURN_STYLE = (
    "FontName=DejaVu Sans,FontSize=16,PrimaryColour=&H00FFFFFF,OutlineColour=&H00000000,"
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
