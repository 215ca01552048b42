"""Paragraphs aligned to the media: times clamped to its length, warnings for cues past its end (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from videos.engines.paragraphs.base import Paragraph
from videos.engines.subtitles import Cue

# A cue ending this little past the media end is container rounding, not a wrong file: clamp it quietly.
END_TOLERANCE_SECONDS = 0.05


def align_paragraphs(
    paragraphs: Sequence[Paragraph], cues: Sequence[Cue], duration_s: float | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Paragraph dicts with times clamped to [0, duration], and warnings for cues past the media end."""
    limit = duration_s if duration_s and duration_s > 0 else None
    aligned = []
    for paragraph in paragraphs:
        start, end = max(0.0, paragraph.start), max(0.0, paragraph.end)
        if limit is not None:
            start, end = min(start, limit), min(end, limit)
        aligned.append(
            {
                "index": paragraph.index,
                "start": round(start, 3),
                "end": round(max(start, end), 3),
                "text": paragraph.text,
                "segment_indexes": list(paragraph.segment_indexes),
            }
        )
    return aligned, _cue_warnings(cues, limit)


def _cue_warnings(cues: Sequence[Cue], limit: float | None) -> list[dict[str, Any]]:
    if limit is None:
        return []
    after = [cue.index for cue in cues if cue.start >= limit]
    overrun = [cue.index for cue in cues if cue.start < limit and cue.end > limit + END_TOLERANCE_SECONDS]
    warnings = []
    if after:
        warnings.append(
            {
                "code": "cues_after_media_end",
                "cues": after,
                "message": f"{_count(after)} {_span(after)} start at or after the media ends ({limit:.3f} s); "
                "their paragraph times are clamped to the end.",
            }
        )
    if overrun:
        warnings.append(
            {
                "code": "cues_overrun_media_end",
                "cues": overrun,
                "message": f"{_count(overrun)} {_span(overrun)} end after the media ends ({limit:.3f} s); "
                "their paragraph times are clamped to the end.",
            }
        )
    return warnings


def _count(indexes: list[int]) -> str:
    return "1 cue" if len(indexes) == 1 else f"{len(indexes)} cues"


def _span(indexes: list[int]) -> str:
    if len(indexes) == 1:
        return f"(number {indexes[0]})"
    shown = ", ".join(str(i) for i in indexes[:10])
    return f"(numbers {shown}{', ...' if len(indexes) > 10 else ''})"


def order_cues(cues: Sequence[Cue]) -> tuple[list[Cue], int]:
    """Cues in time order (stable, keeping their file-order numbers) and how many were out of place."""
    ordered = sorted(cues, key=lambda cue: (cue.start, cue.end))
    return ordered, sum(1 for a, b in zip(cues, ordered, strict=True) if a.index != b.index)


def cue_dicts(cues: Sequence[Cue]) -> list[dict[str, Any]]:
    return [asdict(cue) for cue in cues]


def cues_from_dicts(items: Sequence[dict[str, Any]]) -> list[Cue]:
    return [Cue(index=item["index"], start=item["start"], end=item["end"], text=item["text"]) for item in items]
