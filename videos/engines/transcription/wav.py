"""PCM WAV reading and silence-aware chunk planning shared by the transcription engines."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videos.engines.transcription.base import TranscriptionError

WAV_HEADER_BYTES = 44  # what the wave module writes for plain PCM


@dataclass(frozen=True)
class PcmAudio:
    """16-bit PCM samples, shape (frames, channels)."""

    samples: np.ndarray
    sample_rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    def mono(self) -> np.ndarray:
        """Float mono signal (channel mean), for loudness measurements."""
        return self.samples.astype(np.float32).mean(axis=1)


def read_wav(path: Path) -> PcmAudio:
    """Read a 16-bit PCM WAV; a missing or different file raises TranscriptionError that says why."""
    try:
        with wave.open(str(path), "rb") as reader:
            if reader.getsampwidth() != 2:
                raise TranscriptionError(
                    f"{path.name}: expected 16-bit PCM WAV audio, got {8 * reader.getsampwidth()}-bit samples"
                )
            channels, rate = reader.getnchannels(), reader.getframerate()
            raw = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as exc:
        raise TranscriptionError(f"{path.name}: not a PCM WAV file ({exc})") from exc
    except OSError as exc:
        raise TranscriptionError(f"cannot read the audio file {path.name}: {exc.strerror or exc}") from exc
    samples = np.frombuffer(raw, dtype="<i2")
    samples = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return PcmAudio(samples=samples, sample_rate=rate)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """A complete WAV file (header + PCM) for samples of shape (frames, channels)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(int(samples.shape[1]))
        writer.setsampwidth(2)
        writer.setframerate(sample_rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def plan_chunks(
    signal: np.ndarray,
    sample_rate: int,
    max_frames: int,
    *,
    window_seconds: float = 0.05,
    search_fraction: float = 0.5,
) -> list[tuple[int, int]]:
    """Split [0, len(signal)) into spans of at most max_frames, cutting in the quietest window.

    Each cut is looked for in the last `search_fraction` of the longest allowed span: RMS over
    windows of `window_seconds`, cut in the middle of the latest window that is about as quiet as
    the quietest one (so chunks stay as long as allowed). Speech is cut mid-word only when a
    stretch has no pause.
    """
    if max_frames < 1:
        raise ValueError("max_frames must be positive")
    total = len(signal)
    window = max(1, int(sample_rate * window_seconds))
    spans: list[tuple[int, int]] = []
    position = 0
    while total - position > max_frames:
        high = position + max_frames
        low = max(position + 1, high - int(max_frames * search_fraction))
        count = (high - low) // window
        if count == 0:
            cut = high
        else:
            stretch = np.asarray(signal[low : low + count * window], dtype=np.float64).reshape(count, window)
            rms = np.sqrt(np.mean(stretch * stretch, axis=1))
            # "As quiet as the quietest": within 10% of it or 5% of the loudness range; steady sound is cut late.
            threshold = 1.1 * rms.min() + 0.05 * (rms.max() - rms.min()) + 1.0
            quietest = int(np.flatnonzero(rms <= threshold)[-1])
            cut = low + quietest * window + window // 2
        spans.append((position, cut))
        position = cut
    spans.append((position, total))
    return spans
