"""Word error rate, to hold engines to a measured quality (tests, bench/bench_transcribe.py).

Tolerant of case and punctuation, as a listener is: "Hello, world." and "hello world" are the same words.
Hyphens and slashes separate words ("well-known" is "well known"); apostrophes stay inside them ("don't").
"""

from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_SEPARATORS_RE = re.compile(r"[-\u2010-\u2015/]")
_NOT_WORD_RE = re.compile(r"[^\w']+")


def normalize_words(text: str) -> list[str]:
    """Lower-case words with punctuation removed (apostrophes inside words kept)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).lower()
    text = _SEPARATORS_RE.sub(" ", text)
    words = (_NOT_WORD_RE.sub(" ", token).strip(" '") for token in text.split())
    return [part for word in words for part in word.split() if part]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / words in the reference: Levenshtein over normalised words.

    An empty reference gives 0.0 for an empty hypothesis and 1.0 otherwise (no division by zero).
    """
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return previous[-1] / len(ref)
