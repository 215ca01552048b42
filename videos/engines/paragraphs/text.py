"""A transcript as plain text: the rules engine's paragraphs, one per block, cue lines joined."""

from __future__ import annotations

from collections.abc import Iterable

from videos.engines.paragraphs.base import build_paragraphs
from videos.engines.paragraphs.rules import RulesParagraphEngine
from videos.engines.subtitles import Timed, cues_from_segments


def to_txt(segments: Iterable[Timed]) -> str:
    """Paragraphs separated by blank lines (offline rules, so the same text every time); '' for none."""
    cues = cues_from_segments(segments)
    if not cues:
        return ""
    paragraphs = build_paragraphs(cues, RulesParagraphEngine().group(cues))
    return "\n\n".join(paragraph.text for paragraph in paragraphs) + "\n"
