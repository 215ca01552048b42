"""Offline paragraphing: split at long pauses, at sentence ends before a moderate pause or past a target
length, and at hard limits (so a long talk without pauses is never one paragraph)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings

from videos.engines.paragraphs.base import ParagraphEngine
from videos.engines.subtitles import Cue

# A sentence ends with . ! ? or an ellipsis, maybe followed by closing quotes or brackets.
_SENTENCE_END_RE = re.compile(r"[.!?\u2026][\"'\u201d\u2019)\]]*$")


def ends_sentence(text: str) -> bool:
    return bool(_SENTENCE_END_RE.search(text.strip()))


@dataclass(frozen=True)
class RuleLimits:
    """Thresholds of the rules engine (seconds and characters)."""

    long_pause: float = 2.0  # a gap this long always starts a new paragraph
    sentence_pause: float = 0.8  # a sentence end followed by a gap this long starts one too
    target_chars: int = 400  # past this, the next sentence end closes the paragraph whatever the gap
    max_chars: int = 700
    max_cues: int = 15
    max_seconds: float = 90.0

    @classmethod
    def from_settings(cls) -> RuleLimits:
        """The PARAGRAPH_* settings (continuous speech has few pauses, so the target length matters most)."""
        return cls(
            long_pause=settings.PARAGRAPH_LONG_PAUSE_S,
            sentence_pause=settings.PARAGRAPH_SENTENCE_PAUSE_S,
            target_chars=settings.PARAGRAPH_TARGET_CHARS,
            max_chars=settings.PARAGRAPH_MAX_CHARS,
            max_seconds=settings.PARAGRAPH_MAX_SECONDS,
        )


class RulesParagraphEngine(ParagraphEngine):
    """Deterministic paragraphing; when a paragraph would grow too long it is cut after its last sentence end."""

    name = "rules"

    def __init__(self, limits: RuleLimits | None = None) -> None:
        self.limits = limits or RuleLimits.from_settings()

    def group(self, cues: list[Cue]) -> list[list[int]]:
        limits = self.limits
        groups: list[list[Cue]] = []
        current: list[Cue] = []
        for cue in cues:
            if current:
                previous = current[-1]
                gap = cue.start - previous.end
                sentence_done = ends_sentence(previous.text)
                if (
                    gap >= limits.long_pause
                    or (sentence_done and gap >= limits.sentence_pause)
                    or (sentence_done and _chars(current) >= limits.target_chars)
                ):
                    groups.append(current)
                    current = []
                elif self._too_long(current + [cue]):
                    kept, carried = _cut_after_last_sentence(current)
                    groups.append(kept)
                    current = carried
                    if current and self._too_long(current + [cue]):
                        groups.append(current)
                        current = []
            current.append(cue)
        if current:
            groups.append(current)
        return [[cue.index for cue in group] for group in groups]

    def _too_long(self, group: list[Cue]) -> bool:
        limits = self.limits
        chars = _chars(group)
        return (
            len(group) > limits.max_cues
            or chars > limits.max_chars
            or group[-1].end - group[0].start > limits.max_seconds
        )


def _chars(group: list[Cue]) -> int:
    return sum(len(cue.text) for cue in group) + len(group) - 1


def _cut_after_last_sentence(group: list[Cue]) -> tuple[list[Cue], list[Cue]]:
    """Split a full paragraph after its last sentence end (the whole of it when there is none)."""
    for position in range(len(group), 0, -1):
        if ends_sentence(group[position - 1].text):
            return group[:position], group[position:]
    return group, []
