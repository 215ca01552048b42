"""The paragraph engine interface: group consecutive cues, validate the grouping, build paragraphs."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from videos.engines.subtitles import Cue

_SPACE_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class Paragraph:
    """Consecutive cues read as one paragraph; times come from its cues, index is 1..n."""

    index: int
    start: float
    end: float
    text: str
    segment_indexes: list[int]


class ParagraphEngine(ABC):
    """Groups cues into paragraphs; every engine's answer passes validate_groups."""

    name: str

    @abstractmethod
    def group(self, cues: list[Cue]) -> list[list[int]]:
        """Consecutive cue indexes (Cue.index) per paragraph, covering every cue once, in order."""


def validate_groups(cues: Sequence[Cue], groups: object) -> None:
    """Raise ValueError (saying what is wrong) unless groups cover every cue exactly once, in order."""
    if not isinstance(groups, list):
        raise ValueError("paragraphs must be a list of lists of line numbers")
    expected = [cue.index for cue in cues]
    position = 0
    for number, group in enumerate(groups, start=1):
        if not isinstance(group, list) or not group:
            raise ValueError(f"paragraph {number} must be a non-empty list of line numbers")
        for item in group:
            if not isinstance(item, int) or isinstance(item, bool):
                raise ValueError(f"paragraph {number} holds {item!r}, which is not a line number")
            if position >= len(expected):
                raise ValueError(f"paragraph {number} holds line {item}, but there are only {len(expected)} lines")
            if item != expected[position]:
                raise ValueError(
                    f"paragraph {number} holds line {item} where line {expected[position]} was due: "
                    "every line must appear exactly once, in order, with no gaps"
                )
            position += 1
    if position < len(expected):
        raise ValueError(f"lines {expected[position]} to {expected[-1]} are in no paragraph")


def build_paragraphs(cues: Sequence[Cue], groups: list[list[int]]) -> list[Paragraph]:
    """Paragraphs from a valid grouping: start of the first cue, latest end, cue texts joined by spaces."""
    validate_groups(cues, groups)
    by_index = {cue.index: cue for cue in cues}
    paragraphs = []
    for number, group in enumerate(groups, start=1):
        members = [by_index[index] for index in group]
        text = _SPACE_RE.sub(" ", " ".join(cue.text for cue in members)).strip()
        paragraphs.append(
            Paragraph(
                index=number,
                start=members[0].start,
                end=max(cue.end for cue in members),
                text=text,
                segment_indexes=list(group),
            )
        )
    return paragraphs
