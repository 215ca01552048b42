"""Offline PocketSphinx (its bundled en-us model): chunks cut at pauses, words grouped into segments."""

from __future__ import annotations

import contextlib
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
from videos.media import process

SAMPLE_RATE = 16000
SILENCE_PEAK = 32  # peak sample value (of 32767) at or under which a chunk counts as silent: -60 dBFS
_ALTERNATE_RE = re.compile(r"\(\d+\)$")  # "the(2)": the dictionary's second pronunciation
WORKER_SCRIPT = Path(__file__).with_name("sphinx_worker.py")
POLL_SECONDS = 0.05  # how often the waiting parent looks at the cancel Event
TERM_GRACE_SECONDS = 0.2  # SIGTERM, then SIGKILL if the child is still there
EXIT_WAIT_SECONDS = 2.0  # for a child that has answered everything to exit on its own
RawWord = tuple[str, float, float]  # a decoder token (fillers included) with start and end in seconds


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
    words against 5 of 19). The C library holds the GIL while it decodes, so decoding runs in a child
    process (sphinx_worker.py, one per call, loading the model once): the calling process keeps
    serving its other threads, and a cancel kills the child and returns within POLL_SECONDS plus a
    few milliseconds instead of after the chunk. Progress is per chunk.

    Measured here (2 shared cores, 27 s of espeak-ng speech, a thread ticking every 50 ms meanwhile):
    decoding in the calling thread took 6.2-6.8 s (0.23-0.25x real time) and the ticker got 9 ticks,
    with gaps up to 2.4 s; in the child it takes 6.0 s (0.22x) with the same transcript, and the ticker
    gets 118-121 ticks (longest gap 0.05 s). Starting the child (interpreter + model load) takes 0.38 s,
    against 0.31 s for loading the model in-process before: +0.07 s per call. Cancel mid-chunk returns
    in 10-22 ms (child killed and reaped). A parent that dies leaves an orphan that stops at its next
    answer (broken pipe), i.e. within a chunk.
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
        """Decode the WAV chunk by chunk in a child process; raise TranscriptionCancelled as soon as asked."""
        wav_path = Path(wav_path)
        audio = read_wav(wav_path)
        if audio.sample_rate != SAMPLE_RATE or audio.channels != 1:
            raise TranscriptionError(
                f"{wav_path.name}: PocketSphinx needs 16 kHz mono audio, got {audio.sample_rate} Hz "
                f"with {audio.channels} channels"
            )
        check_cancel(cancel)
        samples = audio.samples[:, 0]
        spans = plan_chunks(samples, SAMPLE_RATE, max(1, int(self.max_chunk_seconds * SAMPLE_RATE)))
        # Digital silence is skipped: the decoder hears words in it ("dog" in 1 s of zeros).
        voiced = [(first, last) for first, last in spans if _is_voiced(samples[first:last])]
        voiced_spans = set(voiced)
        words: list[Word] = []
        # No voiced chunk, no child; the child starts at the first voiced chunk.
        with contextlib.closing(decode_in_child(wav_path, voiced, cancel=cancel)) as results:
            for first, last in spans:
                check_cancel(cancel)
                if (first, last) in voiced_spans:
                    words.extend(
                        Word(text=_ALTERNATE_RE.sub("", token), start=start, end=end)
                        for token, start, end in next(results)
                        if not is_filler(token)
                    )
                if on_progress is not None:
                    on_progress(last / audio.frames if audio.frames else 1.0)
        segments = group_words(words, pause_seconds=self.pause_seconds, max_words=self.max_words)
        return Transcript(segments=segments, language="en", engine=self.name)


def _is_voiced(chunk: np.ndarray) -> bool:
    """Anything louder than digital silence."""
    return len(chunk) > 0 and int(np.abs(chunk.astype(np.int32)).max()) > SILENCE_PEAK


def decode_in_child(
    wav_path: Path, spans: list[tuple[int, int]], *, cancel: threading.Event | None = None
) -> Generator[list[RawWord], None, None]:
    """Yield each span's decoded tokens, decoded by a sphinx_worker child that is killed when this ends.

    The child starts on the first next(); a set `cancel` kills it and raises TranscriptionCancelled
    within POLL_SECONDS; a child that reports an error or dies raises TranscriptionError saying why.
    Close the generator (contextlib.closing) so that a consumer who stops early also kills the child.
    """
    if not spans:
        return
    check_cancel(cancel)
    job = json.dumps({"wav": str(Path(wav_path).resolve()), "spans": [list(span) for span in spans]})
    with tempfile.TemporaryFile() as stderr:
        child = process.spawn(  # -P: the script's folder is not put on sys.path
            [sys.executable, "-P", str(WORKER_SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr
        )
        stdin, stdout = child.stdin, child.stdout
        assert stdin is not None and stdout is not None
        try:
            with contextlib.suppress(BrokenPipeError):  # a child that died at once is reported below
                stdin.write(job.encode())
                stdin.close()
            with contextlib.closing(_messages(stdout, cancel)) as messages:
                for _span in spans:
                    message = next(messages, None)
                    if message is None:
                        raise TranscriptionError(_death(child, stderr))
                    if "error" in message:
                        raise TranscriptionError(str(message["error"]))
                    yield [(str(token), float(start), float(end)) for token, start, end in message["words"]]
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(EXIT_WAIT_SECONDS)
        finally:
            _stop(child)


def _messages(stream: IO[bytes], cancel: threading.Event | None) -> Generator[dict[str, Any], None, None]:
    """JSON lines from the child until it closes stdout, looking at `cancel` every POLL_SECONDS."""
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    yield json.loads(line)
                except ValueError as exc:
                    raise TranscriptionError(f"the PocketSphinx worker answered {line[:200]!r}") from exc
            check_cancel(cancel)
            if selector.select(POLL_SECONDS):
                data = os.read(stream.fileno(), 1 << 16)
                if not data:
                    return
                buffer += data


def _death(child: subprocess.Popen[bytes], stderr: IO[bytes]) -> str:
    """Why the child stopped answering: its signal or exit status and the last line it wrote to stderr."""
    try:
        code = child.wait(TERM_GRACE_SECONDS + 1.0)  # its stdout is closed, so it is exiting
    except subprocess.TimeoutExpired:
        code = None
    if code is None:
        reason = "the PocketSphinx worker stopped answering"
    elif code < 0:
        reason = f"the PocketSphinx worker was killed by signal {_signal_name(-code)}"
    else:
        reason = f"the PocketSphinx worker exited with status {code} before finishing"
    stderr.seek(0)
    lines = [line.strip() for line in stderr.read().decode("utf-8", "replace").splitlines() if line.strip()]
    return f"{reason}: {lines[-1][:300]}" if lines else reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _stop(child: subprocess.Popen[bytes]) -> None:
    """Kill the child if it still runs (SIGTERM, then SIGKILL after TERM_GRACE_SECONDS) and reap it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(TERM_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
