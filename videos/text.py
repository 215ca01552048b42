"""Names people give things (titles, file names) as one clean line: no control or bidi-override characters."""

from __future__ import annotations

import re
import unicodedata

# Explicit direction marks, embeddings, overrides and isolates: they reorder what is shown around them
# (a title could display as another, or scramble a list). Zero-width joiners stay: emoji need them.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SPACES_RE = re.compile(r"\s+")


def single_line(text: str) -> str:
    """`text` without control characters (line breaks and tabs become spaces), bidi controls dropped."""
    kept = []
    for char in text:
        if char in _BIDI_CONTROLS:
            continue
        category = unicodedata.category(char)
        if char.isspace() or category in ("Zl", "Zp"):
            kept.append(" ")
        elif category != "Cc":
            kept.append(char)
    return _SPACES_RE.sub(" ", "".join(kept)).strip()
