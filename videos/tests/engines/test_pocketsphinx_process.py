"""PocketSphinx decodes in a child process: other threads keep running, cancel and failures are prompt and clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from videos.engines.transcription import TranscriptionCancelled, TranscriptionError
from videos.engines.transcription.pocketsphinx_engine import WORKER_SCRIPT, PocketSphinxEngine, decode_in_child
from videos.tests.clips import make_speech_wav
from videos.tests.engines.conftest import SPOKEN_SENTENCE, ffmpeg, lavfi_wav

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the child through /proc")


@pytest.fixture(scope="module")
def long_speech_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 20 s of espeak-ng speech at 16 kHz mono: two 12 s chunks, several seconds of decoding."""
    folder = tmp_path_factory.mktemp("long-speech")
    raw = make_speech_wav(folder / "raw.wav", " ".join([SPOKEN_SENTENCE] * 4))
    out = folder / "long.wav"
    ffmpeg("-i", str(raw), "-ar", "16000", "-ac", "1", "-c:a", "pcm_s16le", str(out))
    return out


def sphinx_children() -> list[int]:
    """Pids of this process's running sphinx_worker children (a zombie has no cmdline, so is not listed)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and WORKER_SCRIPT.name.encode() in cmdline:
            found.append(int(entry.name))
    return found


def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"not true within {timeout} s")


def assert_reaped(pid: int) -> None:
    """Neither running nor a zombie: the engine has already waited for it."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not Path(f"/proc/{pid}").exists()


class Transcription(threading.Thread):
    """transcribe() on a thread, keeping its outcome and when it ended."""

    def __init__(self, wav: Path, engine: PocketSphinxEngine | None = None, **kwargs: object) -> None:
        super().__init__(daemon=True)
        self.wav, self.engine, self.kwargs = wav, engine or PocketSphinxEngine(), kwargs
        self.outcome: object = None
        self.ended = 0.0

    def run(self) -> None:
        try:
            self.outcome = self.engine.transcribe(self.wav, **self.kwargs)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - the test looks at it
            self.outcome = exc
        self.ended = time.monotonic()


def test_other_threads_keep_running_while_decoding(long_speech_wav: Path) -> None:
    ticks: list[float] = []
    transcription = Transcription(long_speech_wav)
    transcription.start()
    while transcription.is_alive():
        ticks.append(time.monotonic())
        time.sleep(0.05)
    transcription.join()
    assert transcription.outcome.segments, transcription.outcome  # it really decoded meanwhile
    elapsed = ticks[-1] - ticks[0]
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert elapsed > 1.0  # measured ~4.5 s; in-thread decoding gave gaps of 2-4 s here
    assert max(gaps) < 0.5, max(gaps)
    assert len(ticks) >= 0.6 * elapsed / 0.05


def test_cancel_mid_decoding_kills_the_child_within_a_second(long_speech_wav: Path) -> None:
    cancel = threading.Event()
    first_chunk_done = threading.Event()
    transcription = Transcription(long_speech_wav, cancel=cancel, on_progress=lambda _value: first_chunk_done.set())
    transcription.start()
    (pid,) = wait_for(sphinx_children)
    assert first_chunk_done.wait(30)
    time.sleep(0.3)  # the child is decoding the second 12 s chunk (a few seconds)
    assert pid in sphinx_children()
    cancelled_at = time.monotonic()
    cancel.set()
    transcription.join(5)
    assert isinstance(transcription.outcome, TranscriptionCancelled), transcription.outcome
    assert transcription.ended - cancelled_at < 1.0
    assert_reaped(pid)


def test_a_child_killed_from_outside_is_a_clear_error(long_speech_wav: Path) -> None:
    transcription = Transcription(long_speech_wav)
    transcription.start()
    (pid,) = wait_for(sphinx_children)
    os.kill(pid, signal.SIGKILL)
    transcription.join(10)
    assert type(transcription.outcome) is TranscriptionError
    assert str(transcription.outcome) == "the PocketSphinx worker was killed by signal SIGKILL"
    assert_reaped(pid)


def test_errors_inside_the_child_come_back_as_messages(tmp_path: Path, speech_wav: Path) -> None:
    with pytest.raises(
        TranscriptionError, match=r"^cannot read the audio file missing.wav: No such file or directory$"
    ):
        list(decode_in_child(tmp_path / "missing.wav", [(0, 16000)]))
    with pytest.raises(TranscriptionError, match=r"^speech.wav: the audio ends at \d+\.\d\d s, before 100.00 s"):
        list(decode_in_child(speech_wav, [(0, 16000), (16000, 1_600_000)]))
    stereo = tmp_path / "stereo.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=r=16000", "-t", "0.5", "-ac", "2", "-c:a", "pcm_s16le", str(stereo))
    with pytest.raises(
        TranscriptionError, match="stereo.wav: PocketSphinx needs 16 kHz mono 16-bit audio, got 16000 Hz"
    ):
        list(decode_in_child(stereo, [(0, 1000)]))
    assert sphinx_children() == []


def test_a_failing_progress_callback_still_ends_the_child(long_speech_wav: Path) -> None:
    seen: list[int] = []

    def on_progress(_value: float) -> None:
        seen.extend(sphinx_children())
        raise RuntimeError("the caller gave up")

    with pytest.raises(RuntimeError, match="the caller gave up"):
        PocketSphinxEngine().transcribe(long_speech_wav, on_progress=on_progress)
    assert len(seen) == 1  # the child was still running (a second chunk to decode) when the caller stopped
    assert_reaped(seen[0])


def test_a_few_milliseconds_of_sound_give_no_words(tmp_path: Path) -> None:
    # The decoder has no hypothesis at all for 10 ms (seg() is None): the in-thread engine raised TypeError.
    path = lavfi_wav(tmp_path / "blip.wav", "sine=frequency=440:sample_rate=16000", 0.01)
    assert PocketSphinxEngine().transcribe(path).segments == []


def test_the_child_imports_neither_django_nor_our_code(speech_wav: Path) -> None:
    job = f'{{"wav": "{speech_wav}", "spans": [[0, 16000]]}}'
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", str(WORKER_SCRIPT)],
        input=job,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.startswith('{"words": [')
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line]
    assert "pocketsphinx" in imported
    assert not [name for name in imported if name.split(".")[0] in {"django", "videos", "backend"}]
