"""Offline PocketSphinx (its bundled en-us model): chunks cut at pauses, words grouped into segments."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videos.engines.transcription.base import (
    ProgressCallback,
    Segment,
    Transcript,
    TranscriptionEngine,
    TranscriptionError,
    check_cancel,
)
from videos.engines.transcription.wav import plan_chunks, read_wav

SAMPLE_RATE = 16000
SILENCE_PEAK = 32  # peak sample value (of 32767) at or under which a chunk counts as silent: -60 dBFS
_ALTERNATE_RE = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation


@dataclass(frozen=True)
class Word:
    """A recognised word with its time span in seconds."""

    text: str
    start: float
    end: float


def is_filler(token: str) -> bool:
    """Silence, sentence marks and noise tokens: <s>, </s>, <sil>, [NOISE], ++BREATH++."""
    return not token or token[0] in "<[+"


def group_words(words: list[Word], *, pause_seconds: float = 0.35, max_words: int = 10) -> list[Segment]:
    """Group words into segments, starting a new one at a pause or after max_words."""
    segments: list[Segment] = []
    current: list[Word] = []
    for word in words:
        if current and (word.start - current[-1].end >= pause_seconds or len(current) >= max_words):
            segments.append(_segment(current))
            current = []
        current.append(word)
    if current:
        segments.append(_segment(current))
    return segments


def _segment(words: list[Word]) -> Segment:
    return Segment(
        start=round(words[0].start, 3), end=round(words[-1].end, 3), text=" ".join(word.text for word in words)
    )


class PocketSphinxEngine(TranscriptionEngine):
    """Offline English transcription; each chunk (at most max_chunk_seconds, cut at a pause) is one utterance.

    Whole utterances are decoded at once because batch cepstral normalisation recognises far more
    words than feeding small blocks with live normalisation (measured on espeak-ng speech: 16 of 19
    words against 5 of 19). Cancel and progress are therefore per chunk: decoding runs at about
    0.2x real time here, so a 12 s chunk takes 2-3 s.
    """

    name = "pocketsphinx"

    def __init__(self, *, max_chunk_seconds: float = 12.0, pause_seconds: float = 0.35, max_words: int = 10) -> None:
        self.max_chunk_seconds = max_chunk_seconds
        self.pause_seconds = pause_seconds
        self.max_words = max_words

    def transcribe(
        self,
        wav_path: Path,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Decode the WAV chunk by chunk; raise TranscriptionCancelled between chunks when asked."""
        wav_path = Path(wav_path)
        audio = read_wav(wav_path)
        if audio.sample_rate != SAMPLE_RATE or audio.channels != 1:
            raise TranscriptionError(
                f"{wav_path.name}: PocketSphinx needs 16 kHz mono audio, got {audio.sample_rate} Hz "
                f"with {audio.channels} channels"
            )
        check_cancel(cancel)
        decoder = _decoder()
        frame_rate = int(decoder.config["frate"])  # feature frames per second (100)
        samples = audio.samples[:, 0]
        spans = plan_chunks(samples, SAMPLE_RATE, max(1, int(self.max_chunk_seconds * SAMPLE_RATE)))
        words: list[Word] = []
        for first, last in spans:
            check_cancel(cancel)
            # Digital silence is skipped: the decoder hears words in it ("dog" in 1 s of zeros).
            if last > first and int(np.abs(samples[first:last].astype(np.int32)).max()) > SILENCE_PEAK:
                decoder.start_utt()
                decoder.process_raw(samples[first:last].tobytes(), False, True)
                decoder.end_utt()
                offset = first / SAMPLE_RATE
                for item in decoder.seg():
                    if is_filler(item.word):
                        continue
                    words.append(
                        Word(
                            text=_ALTERNATE_RE.sub("", item.word),
                            start=offset + item.start_frame / frame_rate,
                            end=offset + (item.end_frame + 1) / frame_rate,  # end_frame is inclusive
                        )
                    )
            if on_progress is not None:
                on_progress(last / audio.frames if audio.frames else 1.0)
        segments = group_words(words, pause_seconds=self.pause_seconds, max_words=self.max_words)
        return Transcript(segments=segments, language="en", engine=self.name)


def _decoder():  # noqa: ANN202 - pocketsphinx ships no type information
    """A fresh decoder with the bundled en-us model (decoders are not thread-safe, so one per call)."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:  # pragma: no cover - pocketsphinx is a runtime requirement
        raise TranscriptionError("PocketSphinx is not installed (pip install pocketsphinx)") from exc
    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
