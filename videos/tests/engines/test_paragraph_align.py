"""Alignment properties: for any cues, grouping and media length, paragraphs cover every cue once, in time, clamped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from videos.engines.paragraphs import RulesParagraphEngine, build_paragraphs
from videos.engines.paragraphs.align import END_TOLERANCE_SECONDS, align_paragraphs, order_cues
from videos.engines.subtitles import Cue

times = st.floats(min_value=0, max_value=600, allow_nan=False, allow_infinity=False)


@st.composite
def cue_lists(draw: st.DrawFn) -> list[Cue]:
    """Cues numbered 1..n in file order, in any time order (files are not always sorted), with any overlap."""
    spans = draw(st.lists(st.tuples(times, st.floats(0, 20, allow_nan=False)), min_size=0, max_size=40))
    words = st.text(alphabet="abc .!?", min_size=1, max_size=30).filter(str.strip)
    return [Cue(index=i, start=a, end=a + d, text=draw(words)) for i, (a, d) in enumerate(spans, start=1)]


@st.composite
def partitions(draw: st.DrawFn, items: list[int]) -> list[list[int]]:
    """Any split of the items into consecutive non-empty groups."""
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(items) - 1)), max_size=len(items))))
    bounds = [0, *[c for c in cuts if c < len(items)], len(items)]
    return [items[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if a < b]


@given(cues=cue_lists(), duration=st.one_of(st.none(), st.floats(0.1, 700, allow_nan=False)), data=st.data())
def test_paragraphs_cover_every_cue_once_in_time_order_within_the_media(cues, duration, data) -> None:  # noqa: ANN001
    ordered, moved = order_cues(cues)
    assert sorted(c.index for c in ordered) == [c.index for c in cues]
    assert [c.start for c in ordered] == sorted(c.start for c in cues)
    assert (moved == 0) == ([c.index for c in ordered] == [c.index for c in cues])
    groups = data.draw(
        st.one_of(st.just(RulesParagraphEngine().group(ordered)), partitions([c.index for c in ordered]))
    )
    paragraphs, warnings = align_paragraphs(build_paragraphs(ordered, groups), ordered, duration)

    assert sorted(i for p in paragraphs for i in p["segment_indexes"]) == list(range(1, len(cues) + 1))
    assert [i for p in paragraphs for i in p["segment_indexes"]] == [c.index for c in ordered]
    assert [p["index"] for p in paragraphs] == list(range(1, len(paragraphs) + 1))
    assert [p["start"] for p in paragraphs] == sorted(p["start"] for p in paragraphs)
    limit = round(duration, 3) if duration is not None else float("inf")
    by_index = {c.index: c for c in cues}
    for p in paragraphs:
        assert 0 <= p["start"] <= p["end"] <= limit
        members = [by_index[i] for i in p["segment_indexes"]]
        assert p["start"] == round(min(min(c.start for c in members), limit), 3)
        assert p["end"] == round(min(max(c.end for c in members), limit), 3)

    flagged = {w["code"]: w["cues"] for w in warnings}
    if duration is None:
        assert warnings == []
    else:
        assert flagged.get("cues_after_media_end", []) == [c.index for c in ordered if c.start >= duration]
        assert flagged.get("cues_overrun_media_end", []) == [
            c.index for c in ordered if c.start < duration and c.end > duration + END_TOLERANCE_SECONDS
        ]
        assert all(w["message"] for w in warnings)
