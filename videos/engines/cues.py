"""Subtitle-ready cues: transcript segments re-cut at word boundaries into at most 2 lines x 42 characters
and 7 s, lines balanced, breaks after punctuation where possible (the common broadcast subtitle rules).

Either engine's segments go through here: Whisper's run up to 30 s and 200+ characters, which no
viewer can read as one subtitle. Cuts use the word times; a segment without them (an engine's text-only
answer) gets times spread over its span by character count, and keeps `words` empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from videos.engines.transcription.base import Segment, Word

_CLOSERS = "\"'\u201d\u2019)\\]"
SENTENCE_END_RE = re.compile(rf"[.!?\u2026\u3002\uff01\uff1f][{_CLOSERS}]*$")
CLAUSE_END_RE = re.compile(rf"[,;:\u3001\uff0c\u2014][{_CLOSERS}]*$")
PUNCTUATION_BONUS = 8  # characters of line imbalance a break after punctuation is worth


@dataclass(frozen=True)
class CueRules:
    """The limits of one cue; a cut after punctuation must keep at least `min_fill` of the cue's characters."""

    max_line_chars: int = 42
    max_lines: int = 2
    max_seconds: float = 7.0
    min_fill: float = 0.5


DEFAULT_RULES = CueRules()


def subtitle_cues(segments: Iterable[Segment], rules: CueRules = DEFAULT_RULES) -> list[Segment]:
    """Every segment as one or more cues within the rules, in time order; text lines joined by '\\n'."""
    cues: list[Segment] = []
    for segment in segments:
        words = _fit_words(list(segment.words) or _spread(segment), rules.max_line_chars)
        if not words:
            continue
        groups = [words] if _fits(words, rules) else _cut(words, rules)
        for group in groups:
            start = max(0.0, group[0].start)  # spread words start and end with their segment
            end = group[-1].end
            end = min(max(start, end), start + rules.max_seconds)
            text = layout(group, rules)
            if text:
                kept = tuple(group) if segment.words else ()
                cues.append(Segment(start=round(start, 3), end=round(end, 3), text=text, words=kept))
    return cues


def text_of(words: Sequence[Word]) -> str:
    """Words joined as the engine spaced them."""
    return "".join(word.word for word in words).strip()


def layout(words: Sequence[Word], rules: CueRules = DEFAULT_RULES) -> str:
    """One line if it fits, else two lines as even as possible, preferring a break after punctuation."""
    whole = text_of(words)
    if len(whole) <= rules.max_line_chars or len(words) < 2 or rules.max_lines < 2:
        return whole
    best: tuple[int, int] | None = None
    for k in range(1, len(words)):
        top, bottom = text_of(words[:k]), text_of(words[k:])
        if len(top) > rules.max_line_chars or len(bottom) > rules.max_line_chars:
            continue
        score = abs(len(top) - len(bottom)) + (0 if _ends_phrase(top) else PUNCTUATION_BONUS)
        if best is None or score < best[0]:
            best = (score, k)
    if best is None:  # only reachable with rules that allow more than two lines
        return whole
    return f"{text_of(words[: best[1]])}\n{text_of(words[best[1] :])}"


def _ends_phrase(text: str) -> bool:
    return bool(SENTENCE_END_RE.search(text) or CLAUSE_END_RE.search(text))


def _fits(words: Sequence[Word], rules: CueRules) -> bool:
    """Within the duration and wrappable into max_lines lines (greedy filling needs the fewest lines)."""
    if len(words) > 1 and words[-1].end - words[0].start > rules.max_seconds:
        return False
    lines, current = 1, ""
    for word in words:
        candidate = (current + word.word).strip() if current else word.word.strip()
        if len(candidate) <= rules.max_line_chars:
            current = candidate if not current else current + word.word
        else:
            lines += 1
            current = word.word.strip()
    return lines <= rules.max_lines


def _cut(words: list[Word], rules: CueRules) -> list[list[Word]]:
    """Greedy: the longest run that fits, pulled back to its last punctuation when that keeps it full enough."""
    groups: list[list[Word]] = []
    first = 0
    while first < len(words):
        last = first + 1  # a single word always fits (_fit_words shortened any longer one)
        while last < len(words) and _fits(words[first : last + 1], rules):
            last += 1
        if last < len(words):
            last = _break_point(words, first, last, rules)
        groups.append(words[first:last])
        first = last
    if len(groups) > 1:  # no orphan: the last two cues share their words as evenly as the rules allow
        groups[-2:] = _even_pair(groups[-2] + groups[-1], len(groups[-2]), rules)
    return groups


def _even_pair(words: list[Word], split: int, rules: CueRules) -> list[list[Word]]:
    """Split words into two fitting cues of even length (a punctuation break counts as even), else at `split`."""
    best = (abs(len(text_of(words[:split])) - len(text_of(words[split:]))), split)
    for k in range(1, len(words)):
        head, tail = words[:k], words[k:]
        if not (_fits(head, rules) and _fits(tail, rules)):
            continue
        score = abs(len(text_of(head)) - len(text_of(tail))) + (0 if _ends_phrase(text_of(head)) else PUNCTUATION_BONUS)
        if score < best[0]:
            best = (score, k)
    return [words[: best[1]], words[best[1] :]]


def _break_point(words: list[Word], first: int, last: int, rules: CueRules) -> int:
    """Where to end the cue words[first:last]: after a sentence end, else a clause mark, else at `last`."""
    needed = rules.min_fill * len(text_of(words[first:last]))
    for pattern in (SENTENCE_END_RE, CLAUSE_END_RE):
        for end in range(last, first, -1):
            if pattern.search(words[end - 1].word.strip()) and len(text_of(words[first:end])) >= needed:
                return end
    return last


def _spread(segment: Segment) -> list[Word]:
    """Words of a segment without word times, timed over its span in proportion to their characters."""
    tokens = segment.text.split()
    total = sum(len(token) for token in tokens)
    words, done = [], 0
    span = max(0.0, segment.end - segment.start)
    for token in tokens:
        start = segment.start + span * done / total
        done += len(token)
        words.append(Word(start=start, end=segment.start + span * done / total, word=" " + token))
    return words


def _fit_words(words: list[Word], limit: int) -> list[Word]:
    """Words longer than a line (a URL, a language written without spaces) cut into line-long pieces."""
    out: list[Word] = []
    for word in words:
        bare = word.word.strip()
        if not bare:
            continue
        if len(bare) <= limit:
            out.append(word)
            continue
        lead = word.word[: len(word.word) - len(word.word.lstrip())]
        pieces = [bare[i : i + limit] for i in range(0, len(bare), limit)]
        step = (word.end - word.start) / len(pieces)
        for number, piece in enumerate(pieces):
            out.append(
                Word(
                    start=word.start + number * step,
                    end=word.start + (number + 1) * step,
                    word=(lead if number == 0 else "") + piece,
                    probability=word.probability,
                )
            )
    return out
