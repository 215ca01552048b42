"""The word error rate the quality tests and the benchmark rely on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.engines.transcription.quality import normalize_words, word_error_rate


def test_case_and_punctuation_do_not_count() -> None:
    assert normalize_words("Hello, World! It's a well-known \u201cfact\u201d\u2026") == [
        "hello", "world", "it's", "a", "well", "known", "fact",
    ]  # fmt: skip
    assert word_error_rate("The quick brown fox.", "the QUICK, brown fox") == 0.0
    assert word_error_rate("don't stop", "Don\u2019t stop!") == 0.0


@pytest.mark.parametrize(
    ("hypothesis_text", "expected"),
    [
        ("the cat sat on the mat", 0.0),
        ("the cat sat on a mat", 1 / 6),  # one substitution
        ("the cat on the mat", 1 / 6),  # one deletion
        ("the fat cat sat on the mat", 1 / 6),  # one insertion
        ("", 1.0),  # everything deleted
        ("a b c d e f g h", 8 / 6),  # more errors than words: WER can pass 1
    ],
)
def test_substitutions_deletions_and_insertions(hypothesis_text: str, expected: float) -> None:
    assert word_error_rate("The cat sat on the mat.", hypothesis_text) == pytest.approx(expected)


def test_an_empty_reference() -> None:
    assert word_error_rate("", "") == 0.0 and word_error_rate("...", "words") == 1.0


words = st.lists(st.sampled_from(["a", "b", "c", "dog", "fox"]), max_size=12)


@given(words, words)
def test_bounds_and_symmetry_of_the_edit_count(ref: list[str], hyp: list[str]) -> None:
    rate = word_error_rate(" ".join(ref), " ".join(hyp))
    if ref:
        edits = round(rate * len(ref))
        assert abs(len(ref) - len(hyp)) <= edits <= max(len(ref), len(hyp))
    if ref and hyp:  # the edit distance is symmetric; only the denominator changes
        assert round(rate * len(ref)) == round(word_error_rate(" ".join(hyp), " ".join(ref)) * len(hyp))
    assert (rate == 0.0) == (ref == hyp)
