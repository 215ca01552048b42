"""Paragraph grouping: validation, building, the rules engine's cover property and rules, selection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.engines.paragraphs import (
    Paragraph,
    RuleLimits,
    RulesParagraphEngine,
    build_paragraphs,
    engine_used,
    get_paragraph_engine,
    validate_groups,
)
from videos.engines.paragraphs.openai_chat import OpenAIChatParagraphEngine
from videos.engines.subtitles import Cue


def cues_at(*spans: tuple[float, float, str]) -> list[Cue]:
    return [Cue(number, start, end, text) for number, (start, end, text) in enumerate(spans, start=1)]


@st.composite
def timed_cues(draw: st.DrawFn) -> list[Cue]:
    """Cues in time order with gaps from none to long, texts with and without sentence ends."""
    cues, clock = [], draw(st.floats(0, 100))
    for number in range(1, draw(st.integers(0, 60)) + 1):
        clock += draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.5, 2.5, 10.0]))
        duration = draw(st.floats(0, 12))
        text = draw(st.text(min_size=0, max_size=120)) + draw(st.sampled_from(["", ".", "?", "!", ",", "…"]))
        cues.append(Cue(number, clock, clock + duration, text))
        clock += duration
    return cues


limits = st.builds(
    RuleLimits,
    long_pause=st.floats(0.5, 5),
    sentence_pause=st.floats(0, 2),
    target_chars=st.integers(1, 800),
    max_chars=st.integers(1, 800),
    max_cues=st.integers(1, 20),
    max_seconds=st.floats(1, 120),
)


@given(timed_cues(), limits)
def test_rules_cover_every_cue_once_in_time_order(cues, rule_limits) -> None:  # noqa: ANN001
    engine = RulesParagraphEngine(rule_limits)
    groups = engine.group(cues)
    validate_groups(cues, groups)  # every cue exactly once, in order, no gaps
    assert [index for group in groups for index in group] == [cue.index for cue in cues]
    assert all(group for group in groups)
    paragraphs = build_paragraphs(cues, groups)
    assert [p.start for p in paragraphs] == sorted(p.start for p in paragraphs)
    for paragraph in paragraphs:  # within its limits unless a single cue is already too long
        members = [cues[i - 1] for i in paragraph.segment_indexes]
        assert len(members) <= rule_limits.max_cues
        if len(members) > 1:
            assert sum(len(c.text) for c in members) + len(members) - 1 <= rule_limits.max_chars
            assert members[-1].end - members[0].start <= rule_limits.max_seconds
    assert engine.group(cues) == groups  # deterministic


def test_rules_split_at_long_pauses_and_at_sentence_ends_before_a_pause() -> None:
    cues = cues_at(
        (0.0, 1.0, "We start here"),
        (1.0, 2.0, "and go on."),  # sentence end, but no pause: same paragraph
        (2.0, 3.0, "Still talking,"),
        (3.5, 4.0, "a comma and a short pause"),
        (6.5, 7.0, "after a long pause."),  # 2.5 s gap: new paragraph
        (8.0, 9.0, "Sentence end then one second"),  # 1 s after a sentence end: new paragraph
        (9.2, 10.0, "is not long enough to split"),
    )
    assert RulesParagraphEngine().group(cues) == [[1, 2, 3, 4], [5], [6, 7]]


def test_rules_cut_an_overlong_paragraph_after_its_last_sentence() -> None:
    cues = cues_at(
        (0, 1, "One."),
        (1, 2, "Two and"),
        (2, 3, "three."),
        (3, 4, "Four and"),
        (4, 5, "five"),
        (5, 6, "six"),
        (6, 7, "seven"),
        (7, 8, "eight"),
        (8, 9, "nine"),
    )
    engine = RulesParagraphEngine(RuleLimits(max_cues=4))
    # cue 5 would make 5 cues: cut after "three." and carry "Four and" on; no sentence end after that.
    assert engine.group(cues) == [[1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert RulesParagraphEngine(RuleLimits(max_chars=10)).group(cues_at((0, 1, "x" * 30), (1, 2, "y"))) == [[1], [2]]
    assert RulesParagraphEngine(RuleLimits(max_seconds=5)).group(cues_at((0, 4, "a"), (4, 6, "b"))) == [[1], [2]]


def test_rules_close_a_paragraph_at_the_first_sentence_end_past_the_target_length() -> None:
    sentence = "This sentence is about forty characters."
    cues = cues_at(*[(k * 2.0, k * 2.0 + 1.9, sentence) for k in range(12)])  # 0.1 s gaps: no pause rule fires
    groups = RulesParagraphEngine(RuleLimits(target_chars=100)).group(cues)
    assert groups == [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]  # 3 cues = 122 characters >= 100


def test_rule_limits_come_from_the_settings(settings) -> None:  # noqa: ANN001
    settings.PARAGRAPH_LONG_PAUSE_S = 3.0
    settings.PARAGRAPH_SENTENCE_PAUSE_S = 1.5
    settings.PARAGRAPH_TARGET_CHARS = 250
    settings.PARAGRAPH_MAX_CHARS = 600
    settings.PARAGRAPH_MAX_SECONDS = 60.0
    limits = RulesParagraphEngine().limits
    assert (limits.long_pause, limits.sentence_pause, limits.target_chars, limits.max_chars, limits.max_seconds) == (
        3.0, 1.5, 250, 600, 60.0,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["harvard_wav", "run_on_wav"])
def test_a_real_transcript_reads_as_several_paragraphs(fixture: str, request: pytest.FixtureRequest) -> None:
    """Whisper's cues of a minute of continuous speech (pauses well under the thresholds): never one block."""
    from videos.engines.transcription.whisper_local import LocalWhisperEngine
    from videos.services.transcripts import transcribe_audio

    segments = transcribe_audio(request.getfixturevalue(fixture), engine=LocalWhisperEngine()).segments
    cues = cues_at(*[(s.start, s.end, s.text) for s in segments])
    paragraphs = build_paragraphs(cues, RulesParagraphEngine(RuleLimits()).group(cues))
    assert len(paragraphs) >= 2, [p.text for p in paragraphs]
    assert all(len(p.text) <= RuleLimits().max_chars for p in paragraphs)
    if fixture == "harvard_wav":  # sentences: every paragraph but the last ends one
        assert all(p.text.endswith((".", "!", "?")) for p in paragraphs[:-1]), [p.text for p in paragraphs]


def test_rules_on_no_cues() -> None:
    assert RulesParagraphEngine().group([]) == []
    assert build_paragraphs([], []) == []


@pytest.mark.parametrize(
    ("groups", "words"),
    [
        ("[[1, 2, 3]]", "must be a list"),
        ([[1, 2], []], "non-empty list"),
        ([[1, 2], 3], "non-empty list"),
        ([[1, "2", 3]], "not a line number"),
        ([[1, True, 3]], "not a line number"),
        ([[1, 3], [2]], "line 3 where line 2 was due"),
        ([[1, 2], [2, 3]], "line 2 where line 3 was due"),
        ([[1, 2]], "lines 3 to 3 are in no paragraph"),
        ([[1, 2, 3, 4]], "only 3 lines"),
        ([[2, 3]], "line 2 where line 1 was due"),
    ],
)
def test_validate_groups_says_what_is_wrong(groups, words) -> None:  # noqa: ANN001
    cues = cues_at((0, 1, "a"), (1, 2, "b"), (2, 3, "c"))
    with pytest.raises(ValueError, match=words):
        validate_groups(cues, groups)


def test_build_paragraphs_takes_times_and_text_from_the_cues() -> None:
    cues = cues_at((0.5, 2.0, "Hello\nthere,"), (1.5, 4.0, " general  "), (3.0, 3.5, "Kenobi."), (9.0, 9.5, "Next"))
    assert build_paragraphs(cues, [[1, 2, 3], [4]]) == [
        Paragraph(index=1, start=0.5, end=4.0, text="Hello there, general Kenobi.", segment_indexes=[1, 2, 3]),
        Paragraph(index=2, start=9.0, end=9.5, text="Next", segment_indexes=[4]),
    ]
    with pytest.raises(ValueError):
        build_paragraphs(cues, [[1, 2], [4]])


def test_engine_selection_by_settings(settings) -> None:  # noqa: ANN001
    settings.PARAGRAPH_ENGINE = "auto"
    settings.OPENAI_API_KEY = ""
    assert isinstance(get_paragraph_engine(), RulesParagraphEngine)
    settings.OPENAI_API_KEY = "sk-test"
    assert isinstance(get_paragraph_engine(), OpenAIChatParagraphEngine)
    settings.PARAGRAPH_ENGINE = "rules"
    assert isinstance(get_paragraph_engine(), RulesParagraphEngine)
    assert isinstance(get_paragraph_engine("OpenAI"), OpenAIChatParagraphEngine)
    with pytest.raises(ValueError, match="unknown paragraph engine 'llm'"):
        get_paragraph_engine("llm")
    settings.OPENAI_API_KEY = ""
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        get_paragraph_engine("openai")
    assert engine_used(RulesParagraphEngine()) == "rules"
