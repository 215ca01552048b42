"""The composition plan, made in one place for both engines: output size and rate, each clip's trimmed
span on the output timeline, and which clips are stream-copied and which re-encoded (and why).

Modes: `copy` (every clip matches, none trimmed: the concat demuxer copies them all), `smart` (the clips
that match the output and need no trim or filter are copied, the others re-encoded to the very same
format, then all joined by stream copy at their keyframes), `reencode` (one normalising ffmpeg run; the
MoviePy engine always renders everything).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

from videos.media.ffmpeg import MediaError
from videos.media.probe import ProbeResult

# Codecs the mp4 muxer takes as they are; anything else is re-encoded even when all clips agree.
MP4_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1"})
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "opus"})
AUDIO_RATE = 48000
AUDIO_CHANNELS = 2
DEFAULT_FPS = 30.0
SIZE_CHOICES = ("first", "largest")
SUBTITLE_MODES = ("none", "soft", "burn")
MIN_SIDE, MAX_SIDE = 16, 4096
TRIM_EPSILON_S = 0.001
MIN_COPIED_GOPS_S = 0.5  # less than this between the keyframes inside a trim is not worth a split
FRAME_SLACK = 0.05  # of a frame: a container may end a hair before its last frame does
_SIZE_RE = re.compile(r"^\s*(\d{1,5})\s*[xX\u00d7]\s*(\d{1,5})\s*$")

Size = str | tuple[int, int]


def parse_size(value: Any) -> Size:
    """`first`, `largest` or `WxH` (even numbers, 16..4096); ValueError with a message people can act on."""
    if value is None or value == "":
        return "first"
    if isinstance(value, (list, tuple)) and len(value) == 2:
        value = f"{value[0]}x{value[1]}"
    text = str(value).strip().lower()
    if text in SIZE_CHOICES:
        return text
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"size {value!r}: use 'first', 'largest' or WxH such as 1280x720.")
    width, height = int(match.group(1)), int(match.group(2))
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(f"size {width}x{height}: each side must be {MIN_SIDE} to {MAX_SIDE}.")
    if width % 2 or height % 2:
        raise ValueError(f"size {width}x{height}: width and height must be even (H.264 4:2:0).")
    return (width, height)


def size_text(size: Size) -> str:
    """The JSON form of a size (task args, the API): `first`, `largest` or `WxH`."""
    return size if isinstance(size, str) else f"{size[0]}x{size[1]}"


@dataclass(frozen=True)
class Clip:
    """One item of a composition: a probed input and its trim (`end` None: to the end)."""

    probe: ProbeResult
    start: float = 0.0
    end: float | None = None
    has_captions: bool = False
    keyframes: tuple[float, ...] = ()  # known for a trimmed clip that could otherwise be copied (keyframes_wanted)

    @property
    def picture_end(self) -> float:
        """Where the last frame ends: the container's length may include a last AAC frame beyond it."""
        fps, length = self.probe.fps, self.probe.duration_s
        return max(1, math.floor(length * fps + FRAME_SLACK)) / fps if fps else length

    @property
    def stop(self) -> float:
        return self.picture_end if self.end is None else min(self.end, self.picture_end)

    @property
    def duration(self) -> float:
        return max(self.stop - self.start, 0.0)

    @property
    def trimmed(self) -> bool:
        return self.start > TRIM_EPSILON_S or self.stop < self.picture_end - TRIM_EPSILON_S


@dataclass(frozen=True)
class Part:
    """A clip's span as it lands on the output: copied whole, or encoded to `frames` frames."""

    clip: int
    action: str  # "copy" | "encode"
    start: float  # in the source
    end: float
    offset: float  # where it starts in the output
    duration: float  # how long it lasts in the output
    frames: int


@dataclass(frozen=True)
class CompositionPlan:
    """What both engines render and what the task's stage reports."""

    mode: str  # "copy" | "smart" | "reencode"
    width: int
    height: int
    fps: float
    reason: str
    expected_duration: float
    parts: tuple[Part, ...] = ()
    subtitles: str = "none"
    has_audio: bool = True
    sample_rate: int = AUDIO_RATE
    channels: int = AUDIO_CHANNELS
    time_base: str | None = None  # the video track time base encoded parts must share with copied clips

    @property
    def copied(self) -> int:
        return sum(1 for p in self.parts if p.action == "copy")

    @property
    def encoded(self) -> int:
        return sum(1 for p in self.parts if p.action == "encode")

    @property
    def stage(self) -> str:
        """The task's stage while this plan renders: the step name and the path taken."""
        return f"concatenate:{self.mode}"

    def summary(self) -> str:
        """One line for logs, the result and people: which path, how many clips copied and re-encoded."""
        size = f"{self.width}x{self.height} {self.fps:g} fps"
        if self.mode == "copy":
            return f"copy: all {self.copied} clips stream-copied ({size})"
        if self.mode == "smart":
            return f"smart: {self.copied} clips stream-copied, {self.encoded} re-encoded ({size})"
        return f"reencode: {self.encoded} clips re-encoded ({size})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompositionPlan:
        values = dict(data)
        values["parts"] = tuple(Part(**p) for p in values.get("parts") or ())
        return cls(**values)


def plan_composition(
    clips: list[Clip],
    *,
    size: Size = "first",
    subtitles: str = "none",
    smart: bool = True,
) -> CompositionPlan:
    """Decide the output format and how each clip gets there; `smart=False` (MoviePy) renders every clip."""
    if not clips:
        raise MediaError("Nothing to compose: no clips.")
    for number, clip in enumerate(clips, 1):
        if not clip.probe.has_video or not clip.probe.width or not clip.probe.height:
            raise MediaError(f"Clip {number} has no video stream.")
        if clip.duration <= 0:
            raise MediaError(f"Clip {number}: its trim ({clip.start:g} s to {clip.stop:g} s) is empty.")
    if subtitles not in SUBTITLE_MODES:
        raise MediaError(f"Unknown subtitles mode {subtitles!r}.")
    width, height = _output_size(clips, size)
    first = clips[0].probe
    why_not = _why_not_copy_all(clips, (width, height), subtitles) if smart else "MoviePy renders every frame"
    if why_not is None:
        return _timeline(
            clips, ["copy"] * len(clips), mode="copy", width=width, height=height, fps=first.fps or DEFAULT_FPS,
            reason=f"all clips match: {_describe(first)}", subtitles=subtitles, has_audio=first.has_audio,
            sample_rate=first.sample_rate or AUDIO_RATE, channels=first.channels or AUDIO_CHANNELS,
            time_base=first.time_base,
        )  # fmt: skip
    reference = _smart_reference(clips, (width, height), subtitles) if smart else None
    if reference is not None:
        ref = reference.probe
        actions = [_smart_action(c, ref, (width, height), subtitles) for c in clips]
        return _timeline(
            clips, actions, mode="smart", width=width, height=height, fps=ref.fps or DEFAULT_FPS,
            reason=f"{why_not}; clips matching {_describe(ref)} are copied", subtitles=subtitles, has_audio=True,
            sample_rate=ref.sample_rate or AUDIO_RATE, channels=ref.channels or AUDIO_CHANNELS,
            time_base=ref.time_base,
        )  # fmt: skip
    return _timeline(
        clips, ["encode"] * len(clips), mode="reencode", width=width, height=height, fps=first.fps or DEFAULT_FPS,
        reason=why_not, subtitles=subtitles, has_audio=True, sample_rate=AUDIO_RATE, channels=AUDIO_CHANNELS,
        time_base=None,
    )  # fmt: skip


def full_reencode(plan: CompositionPlan, clips: list[Clip], reason: str) -> CompositionPlan:
    """The same composition with every clip re-encoded: the fallback when smart rendering cannot be exact."""
    return _timeline(
        clips, ["encode"] * len(clips), mode="reencode", width=plan.width, height=plan.height, fps=plan.fps,
        reason=reason, subtitles=plan.subtitles, has_audio=True, sample_rate=AUDIO_RATE, channels=AUDIO_CHANNELS,
        time_base=None,
    )  # fmt: skip


def keyframes_wanted(clips: list[Clip], *, size: Size = "first", subtitles: str = "none") -> list[int]:
    """The trimmed clips that smart rendering could mostly copy, given their keyframe times: probe those."""
    out = _output_size(clips, size)
    return [i for i, c in enumerate(clips) if c.trimmed and _copyable(c, out, subtitles, whole=False)]


def _smart_action(clip: Clip, ref: ProbeResult, size: tuple[int, int], subtitles: str) -> str:
    """copy (as it is), split (copy the whole GOPs inside its trim, encode the ends) or encode."""
    if not _same(clip.probe, ref) or not _copyable(clip, size, subtitles, whole=False):
        return "encode"
    if not clip.trimmed:
        return "copy"
    return "split" if _inner_gops(clip) is not None else "encode"


def _inner_gops(clip: Clip) -> tuple[float, float] | None:
    """(first keyframe at or after the in point, last keyframe at or before the out point) when at least one
    whole GOP lies between them; the ends outside are re-encoded, the GOPs inside copied."""
    start, stop = _on_frame(clip), clip.stop
    slack = 0.5 / (clip.probe.fps or DEFAULT_FPS)
    inside = [k for k in clip.keyframes if start - slack <= k <= stop + slack]
    if len(inside) < 2 or inside[-1] - inside[0] < MIN_COPIED_GOPS_S:
        return None
    return inside[0], inside[-1]


def _timeline(clips: list[Clip], actions: list[str], **plan: Any) -> CompositionPlan:
    """Each clip's place on the output. Encoded spans get whole frames, rounded against the ideal timeline
    (the sum of the trims asked for) so rounding never accumulates: the output is
    within a frame of that sum (half a frame unless a clip has no frame to spare past its out point)."""
    fps = plan["fps"]
    parts, ideal, offset = [], 0.0, 0.0
    for number, (clip, action) in enumerate(zip(clips, actions, strict=True)):
        start = _on_frame(clip)
        ideal += clip.duration  # the trim asked for: the output stays within a frame of their sum
        # ... taking at most one frame past the out point to get there, never a frame the clip does not have
        source_fps = clip.probe.fps or fps
        available = min(clip.stop + (1 / source_fps if clip.end is not None else 0.0), clip.picture_end)
        spans: list[tuple[str, float, float, float | None]]  # (action, from, to, exact length or None: rounded)
        if action == "copy":
            spans = [("copy", start, clip.picture_end, clip.picture_end)]
        elif action == "split":
            first_key, last_key = _inner_gops(clip) or (start, start)
            spans = [
                ("encode", start, first_key, first_key - start),
                ("copy", first_key, last_key, last_key - first_key),
            ]
            spans.append(("encode", last_key, clip.stop, None))
        else:
            spans = [("encode", start, clip.stop, None)]
        for kind, begin, end, exact in spans:
            if exact is not None and exact < 0.5 / fps:
                continue  # an in point on a keyframe: nothing to encode before it
            if exact is not None:  # copied runs last what they last; encoded heads are whole frames already
                frames = max(1, round(exact * fps))
                duration = exact if kind == "copy" else frames / fps
            else:  # the last span of a clip takes up the rounding against the ideal timeline
                frames = min(round((ideal - offset) * fps), round((available - begin) * fps + FRAME_SLACK))
                if frames < 1 and len(spans) > 1:
                    continue  # an out point on a keyframe: nothing to encode after it
                frames = max(1, frames)
                duration = frames / fps
            parts.append(
                Part(number, kind, round(begin, 6), round(end, 6), round(offset, 6), round(duration, 6), frames)
            )
            offset += duration
    return CompositionPlan(parts=tuple(parts), expected_duration=round(offset, 6), **plan)


def _on_frame(clip: Clip) -> float:
    """The in point moved to the first source frame at or after it: picture and sound then start at the
    same instant (ffmpeg's exact seek shows that frame first; cutting the sound earlier would put it ahead)."""
    fps = clip.probe.fps
    if not clip.trimmed or not fps:
        return clip.start
    snapped = math.ceil(clip.start * fps - 1e-6) / fps
    return round(snapped, 6) if snapped < clip.stop else clip.start


def _even(value: int) -> int:
    """libx264 with yuv420p needs even dimensions."""
    return max(2, value - value % 2)


def _output_size(clips: list[Clip], size: Size) -> tuple[int, int]:
    if isinstance(size, tuple | list):
        return _even(int(size[0])), _even(int(size[1]))
    if size == "largest":
        biggest = max(clips, key=lambda c: (c.probe.width or 0) * (c.probe.height or 0)).probe
        return _even(biggest.width or 0), _even(biggest.height or 0)
    return _even(clips[0].probe.width or 0), _even(clips[0].probe.height or 0)


def _video_key(clip: ProbeResult) -> tuple[object, ...]:
    return (clip.video_codec, clip.width, clip.height, clip.fps, clip.time_base, clip.pix_fmt)


def _audio_key(clip: ProbeResult) -> tuple[object, ...]:
    if not clip.has_audio:
        return ("no audio",)
    return (clip.audio_codec, clip.sample_rate, clip.channel_layout or clip.channels)


def _same(a: ProbeResult, b: ProbeResult) -> bool:
    return _video_key(a) == _video_key(b) and _audio_key(a) == _audio_key(b)


def _describe(clip: ProbeResult) -> str:
    audio = f"{clip.audio_codec} {clip.sample_rate} Hz {clip.channel_layout}" if clip.has_audio else "no audio"
    return f"{clip.video_codec} {clip.width}x{clip.height} {clip.fps:g} fps {clip.pix_fmt} tb {clip.time_base}, {audio}"


def _copyable(clip: Clip, size: tuple[int, int], subtitles: str, *, whole: bool = True) -> bool:
    """As it is: no trim (unless `whole` is False), nothing drawn on it, already the output size, codecs mp4 holds."""
    p = clip.probe
    return (
        not (whole and clip.trimmed)
        and not (subtitles == "burn" and clip.has_captions)
        and (p.width, p.height) == size
        and p.video_codec in MP4_VIDEO_CODECS
        and (not p.has_audio or p.audio_codec in MP4_AUDIO_CODECS)
    )


def _why_not_copy_all(clips: list[Clip], size: tuple[int, int], subtitles: str) -> str | None:
    """Why the clips cannot all be stream-copied together, or None when they can."""
    first = clips[0].probe
    for number, clip in enumerate(clips, 1):
        if clip.trimmed:
            return f"clip {number} is trimmed ({clip.start:g} s to {clip.stop:g} s)"
        if subtitles == "burn" and clip.has_captions:
            return f"captions are burned into clip {number}"
    if (first.width, first.height) != size:
        return f"a size of {size[0]}x{size[1]} was asked for (clip 1 is {first.width}x{first.height})"
    if first.video_codec not in MP4_VIDEO_CODECS:
        return f"video codec {first.video_codec} cannot be copied into mp4"
    if first.has_audio and first.audio_codec not in MP4_AUDIO_CODECS:
        return f"audio codec {first.audio_codec} cannot be copied into mp4"
    for number, clip in enumerate(clips[1:], 2):
        if not _same(clip.probe, first):
            return f"clip {number} ({_describe(clip.probe)}) differs from clip 1 ({_describe(first)})"
    return None


def _smart_reference(clips: list[Clip], size: tuple[int, int], subtitles: str) -> Clip | None:
    """The copyable clips' format that covers the most output time, if our encoder can produce it exactly
    (H.264 yuv420p with AAC sound, a known time base); None when no clip can be copied."""
    groups: dict[tuple[object, ...], list[Clip]] = {}
    for clip in clips:
        p = clip.probe
        exact = (
            p.video_codec == "h264" and p.pix_fmt == "yuv420p" and p.has_audio and p.audio_codec == "aac"
            and (p.channels or 0) in (1, 2) and bool(p.fps) and _timescale(p.time_base) is not None
        )  # fmt: skip
        splits = clip.trimmed and _copyable(clip, size, subtitles, whole=False) and _inner_gops(clip) is not None
        if exact and (_copyable(clip, size, subtitles) or splits):
            groups.setdefault((*_video_key(p), *_audio_key(p)), []).append(clip)
    if not groups:
        return None
    best = max(groups.values(), key=lambda group: sum(c.duration for c in group))
    return best[0]


def _timescale(time_base: str | None) -> int | None:
    """'1/12800' -> 12800 (the mp4 track timescale an encoded part must share with copied clips)."""
    try:
        value = Fraction(str(time_base))
    except (ValueError, ZeroDivisionError):
        return None
    return value.denominator if value > 0 and value.numerator == 1 else None


def track_timescale(plan: CompositionPlan) -> int | None:
    """The video timescale encoded parts are written with in a smart plan."""
    return _timescale(plan.time_base)
