"""Media fixtures: clips made by ffmpeg's lavfi sources, cached per session; speech from espeak-ng."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from videos.tests import clips


@pytest.fixture
def make_clip(tmp_path: Path) -> Callable[..., Path]:
    """A fresh clip in this test's tmp dir: make_clip("a.mp4", seconds=1, audio=False)."""

    def make(name: str = "clip.mp4", **kwargs: Any) -> Path:
        return clips.make_clip(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def cached_clip() -> Callable[..., Path]:
    """A session-cached clip (read-only: copy it before changing it)."""
    return clips.cached_clip


@pytest.fixture
def make_speech_wav(tmp_path: Path) -> Callable[[str], Path]:
    """Spoken text as a WAV in this test's tmp dir."""

    def make(text: str, name: str = "speech.wav") -> Path:
        return clips.make_speech_wav(tmp_path / name, text)

    return make
