"""Decode checks: clean files pass, damaged or truncated ones fail, long files are sampled including the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from videos.media.verify import DecodeError, check_decodes, check_end_decodes, sample_starts
from videos.tests.clips import cached_clip


def damaged_copy(source: Path, target: Path, *, keep: float = 1.0, scribble_at: float | None = None) -> Path:
    """The first `keep` share of the file's bytes, with a run of garbage written at `scribble_at` if given."""
    data = bytearray(source.read_bytes()[: int(source.stat().st_size * keep)])
    if scribble_at is not None:
        at = int(len(data) * scribble_at)
        data[at : at + 20000] = bytes((i * 37) % 256 for i in range(20000))
    target.write_bytes(bytes(data))
    return target


def test_a_clean_file_passes_whole_and_sampled():
    short = cached_clip(seconds=6, width=320, height=240, fps=25)
    long = cached_clip(seconds=30, width=160, height=120, fps=25)
    check_decodes(short, 6.0)
    check_decodes(long, 30.0)
    check_end_decodes(long, 30.0)


def test_damage_in_the_middle_of_a_short_file_is_found(tmp_path):  # noqa: ANN001
    source = cached_clip(seconds=6, width=320, height=240, fps=25)
    with pytest.raises(DecodeError) as caught:
        check_decodes(damaged_copy(source, tmp_path / "scribbled.mp4", scribble_at=0.5), 6.0)
    assert caught.value.lines


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_a_truncated_long_file_fails_at_its_end_sample(tmp_path, keep):  # noqa: ANN001
    source = cached_clip(seconds=30, width=160, height=120, fps=25)
    truncated = damaged_copy(source, tmp_path / "truncated.mp4", keep=keep)
    with pytest.raises(DecodeError):
        check_decodes(truncated, 30.0)
    with pytest.raises(DecodeError):
        check_end_decodes(truncated, 30.0)


def test_long_files_are_sampled_at_start_middle_and_end():
    assert sample_starts(10.0) == [None]
    assert sample_starts(104.0) == [0.0, 50.0, 100.0]
