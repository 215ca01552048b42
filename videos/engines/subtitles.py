"""SRT/VTT: a strict line-based SRT parser that names the bad line, and SRT/VTT writers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import srt

__all__ = ["Cue", "SubtitleParseError", "cues_from_segments", "parse_srt", "to_srt", "to_vtt"]


@dataclass(frozen=True)
class Cue:
    """One subtitle line: seconds from the media start; index is 1..n in file order."""

    index: int
    start: float
    end: float
    text: str


class Timed(Protocol):
    """Anything with a time span and text (Cue, Segment): read-only, so frozen dataclasses match."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def text(self) -> str: ...


class SubtitleParseError(ValueError):
    """A malformed subtitle file; `line` is the 1-based line the message names."""

    def __init__(self, line: int, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


# The `srt` package accepts files without cue numbers and swallows stray text into the previous
# cue, and reports errors as character offsets; we need strictness and line numbers, so the
# reading side is a small state machine here and the writing side is `srt.compose`.
# Every pattern here runs in linear time on any line (no nested or overlapping quantifiers, anchored
# matches only): a search such as r"\d+:\d+.*-->" is quadratic on a long "1:1:1:..." line and holds
# the GIL for minutes. A quick substring test stands in for it.
_TIMESTAMP = r"(\d+):([0-5]\d):([0-5]\d)[,.](\d{1,3})"
_TIMING_RE = re.compile(rf"^{_TIMESTAMP}[ \t]*-->[ \t]*{_TIMESTAMP}(?:[ \t]+.*)?$")
_CLOCK_RE = re.compile(r"\d:\d")
_INDEX_RE = re.compile(r"^\d+$")
# What to_srt() writes for up to 999 hours; more is not a subtitle file (and would put text at ~1e23 s).
MAX_HOURS = 999
MAX_INDEX_DIGITS = 9  # cue numbers are renumbered anyway; a 5,000-digit one is not a subtitle file
_NEWLINE_RE = re.compile(r"\r\n|\r|\n")
# C0/C1 controls but the tab: no subtitle holds them (NUL cannot even be stored in PostgreSQL JSON).
# Format characters (bidi marks, joiners) are fine: right-to-left subtitles need them.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _millis(hours: str, minutes: str, seconds: str, fraction: str) -> int:
    # "1,5" means 1.5 s: the fraction is decimal, whatever its number of digits.
    significant = hours.lstrip("0") or "0"  # int() refuses strings of over 4,300 digits, zeros included
    if len(significant) > len(str(MAX_HOURS)) or int(significant) > MAX_HOURS:
        raise _HoursOutOfRange(hours)
    return ((int(significant) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + int(fraction.ljust(3, "0"))


class _HoursOutOfRange(ValueError):
    """A timestamp's hours exceed MAX_HOURS; parse_srt() names the line."""


def _looks_like_timing(line: str) -> bool:
    return "-->" in line and _CLOCK_RE.search(line) is not None


def _clock(millis: int, separator: str) -> str:
    return srt.timedelta_to_srt_timestamp(timedelta(milliseconds=millis)).replace(",", separator)


def _decode(data: str | bytes) -> str:
    if isinstance(data, bytes):
        raw = data
        try:
            data = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SubtitleParseError(raw.count(b"\n", 0, exc.start) + 1, "not valid UTF-8 text") from exc
    return data.removeprefix("\ufeff")


def _short(line: str) -> str:
    line = line.strip()
    return repr(line if len(line) <= 40 else line[:37] + "...")


def parse_srt(data: str | bytes) -> list[Cue]:
    """Parse SRT text strictly (any newline style, optional BOM, ',' or '.' before milliseconds)."""
    lines = _NEWLINE_RE.split(_decode(data))
    cues: list[Cue] = []
    number = 0
    total = len(lines)
    while number < total:
        if not lines[number].strip():
            number += 1
            continue
        head = lines[number].strip()
        if not _INDEX_RE.match(head):
            if _looks_like_timing(head):
                raise SubtitleParseError(number + 1, "missing cue number before the timing line")
            raise SubtitleParseError(number + 1, f"expected a cue number, found {_short(head)}")
        if len(head) > MAX_INDEX_DIGITS:
            raise SubtitleParseError(number + 1, f"cue number {_short(head)} has over {MAX_INDEX_DIGITS} digits")
        number += 1
        if number >= total or not lines[number].strip():
            raise SubtitleParseError(number + 1, f"bad timestamp: cue {head} has no timing line")
        timing = _TIMING_RE.match(lines[number].strip())
        if timing is None:
            raise SubtitleParseError(
                number + 1,
                f"bad timestamp {_short(lines[number])} (expected 'HH:MM:SS,mmm --> HH:MM:SS,mmm')",
            )
        try:
            start, end = _millis(*timing.groups()[:4]), _millis(*timing.groups()[4:])
        except _HoursOutOfRange as exc:
            raise SubtitleParseError(
                number + 1, f"timestamp hours {_short(str(exc))} out of range (at most {MAX_HOURS})"
            ) from None
        if end < start:
            raise SubtitleParseError(
                number + 1, f"cue ends at {_clock(end, ',')} before it starts at {_clock(start, ',')}"
            )
        number += 1
        text: list[str] = []
        while number < total and lines[number].strip():
            control = _CONTROL_RE.search(lines[number])
            if control is not None:
                raise SubtitleParseError(number + 1, f"control character U+{ord(control.group()):04X} in the text")
            text.append(lines[number].strip())
            number += 1
        cues.append(Cue(index=len(cues) + 1, start=start / 1000, end=end / 1000, text="\n".join(text)))
    if not cues:
        raise SubtitleParseError(1, "the file has no cues (it is empty)")
    return cues


def _clean_text(text: str) -> str:
    """Cue text as a file can hold it: no blank lines, no surrounding whitespace per line."""
    return "\n".join(line.strip() for line in _NEWLINE_RE.split(text) if line.strip())


def _span(item: Timed) -> tuple[int, int]:
    # Writers must always produce a valid file: negative times and reversed spans are clamped.
    start = max(0, round(item.start * 1000))
    return start, max(start, round(item.end * 1000))


def to_srt(cues: Iterable[Timed]) -> str:
    """Write SRT (numbered 1..n in the given order, ',' before milliseconds, '\\n' newlines)."""
    subtitles = []
    for number, cue in enumerate(cues, start=1):
        start, end = _span(cue)
        subtitles.append(
            srt.Subtitle(
                index=number,
                start=timedelta(milliseconds=start),
                end=timedelta(milliseconds=end),
                content=_clean_text(cue.text),
            )
        )
    return srt.compose(subtitles, reindex=False)


def _vtt_escape(text: str) -> str:
    # '&' and '<' start markup in WebVTT; escaping '>' also keeps "-->" out of cue text.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Timed]) -> str:
    """Write WebVTT (header, numbered cues, '.' before milliseconds, text escaped)."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, start=1):
        start, end = _span(cue)
        text = _vtt_escape(_clean_text(cue.text))
        blocks.append(f"{number}\n{_clock(start, '.')} --> {_clock(end, '.')}\n" + (f"{text}\n" if text else ""))
    return "\n".join(blocks)


def cues_from_segments(segments: Iterable[Timed]) -> list[Cue]:
    """Number transcript segments (or any timed text) as cues 1..n, e.g. to paragraph a transcript."""
    return [
        Cue(index=number, start=item.start, end=item.end, text=item.text)
        for number, item in enumerate(segments, start=1)
    ]
