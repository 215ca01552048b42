"""Render a composition plan with ffmpeg: stream copy, smart rendering or one normalising re-encode.

Trims are frame-accurate: each input is opened with `-ss` before `-i` (ffmpeg seeks to the keyframe
before, then decodes and drops what precedes the in point), and each span is cut to a whole number of
frames with its sound padded or cut to exactly that length, so sound and picture stay together at
every join. Smart rendering encodes the clips that need it to the copied clips' very format (codec,
size, rate, time base, sample rate, layout), each starting on a keyframe, and the concat demuxer then
joins everything by stream copy (each file's parameter sets travel in-band, so decoders switch cleanly).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from videos.engines.subtitles import to_srt
from videos.engines.transcription.base import Segment
from videos.media import process
from videos.media.captions import BURN_STYLE, cut, shift
from videos.media.ffmpeg import (
    MediaCancelled,
    MediaError,
    StorageFullError,
    default_preset,
    ffprobe_binary,
    run_ffmpeg,
)
from videos.media.plan import (
    DEFAULT_FPS,
    TRIM_EPSILON_S,
    Clip,
    CompositionPlan,
    Part,
    full_reencode,
    track_timescale,
)
from videos.media.probe import ProbeResult, probe
from videos.media.verify import DecodeError, check_decodes

log = logging.getLogger("montage.compose")
COPY_COST = 0.05  # a stream-copy join costs about this much of encoding the same seconds (progress weights)
# The parts a smart render re-encodes run this many at a time: each short encode has single-threaded
# stretches (start-up, decoding, scaling) that a second one fills (docs/BENCHMARKS.md, smart rendering).
ENCODES_AT_ONCE = max(1, min(4, os.cpu_count() or 1))
WATCH_S = 0.1
AUDIO_BITRATE = "128k"
SEEK_MARGIN_S = 0.0005
PROBE_KEYFRAMES_TIMEOUT_S = 120.0
# Joining by stream copy: the picture is copied, the sound decoded and encoded once more. Copied AAC would
# carry each file's encoder priming (a packet before its start) into the middle of the output, and every
# join would push the sound ~21 ms later; decoded, each file's sound is placed at its timestamps instead.
JOIN_AUDIO_FILTER = "aresample=async=1:min_hard_comp=0.005:first_pts=0"


# B-frame settings giving libx264 a reorder delay (frames a decoder holds back) of 0, 1 or 2. An encoded part
# joined to copied ones by stream copy must have the copied clips' delay: with less, the copied part's first
# decode time falls before the encoded part's last one; with more, the other way round.
X264_REORDER = ("bframes=0", "bframes=1:b-pyramid=none", "bframes=3:b-pyramid=normal")


@dataclass(frozen=True)
class Match:
    """What an encoded part must share with the copied clips it is joined to, beyond the plan's format."""

    timescale: int | None
    reorder_delay: int | None


@dataclass(frozen=True)
class Rendered:
    """The verified output and the plan that actually ran (a smart plan may have fallen back)."""

    probe: ProbeResult
    plan: CompositionPlan


def timeline_captions(plan: CompositionPlan, clip_segments: Sequence[Sequence[Segment]]) -> list[Segment]:
    """Every clip's cues, cut to its span and shifted to where that span lands in the output."""
    cues: list[Segment] = []
    spans: dict[int, list[Part]] = {}
    for part in plan.parts:  # a clip split into encoded ends and copied middle is still one span of speech
        spans.setdefault(part.clip, []).append(part)
    for clip, parts in spans.items():
        first, last = parts[0], parts[-1]
        local = cut(clip_segments[clip], first.start, last.end) if clip < len(clip_segments) else []
        cues += [c for c in shift(local, first.offset) if c.start < last.offset + last.duration]
    return cues


def compose(
    paths: list[Path],
    clips: list[Clip],
    plan: CompositionPlan,
    output: Path,
    *,
    clip_segments: Sequence[Sequence[Segment]] = (),
    on_progress: Callable[[float], None] | None = None,
    on_plan: Callable[[CompositionPlan], None] | None = None,
    cancel: threading.Event | None = None,
    preset: str | None = None,
) -> Rendered:
    """Render `plan` into `output`, verified (streams, length, a clean decode); no partial file is left.

    A smart plan whose joined result does not verify falls back to a full re-encode (`on_plan` hears of
    every plan that starts, so the task's stage can say which path ran).
    """
    if len(paths) != len(clips):
        raise MediaError(f"{len(paths)} paths but {len(clips)} clips.")
    for path in paths:  # the concat demuxer would skip a missing file and still exit 0
        if not Path(path).is_file():
            raise MediaError(f"Input file missing: {Path(path).name}")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    job = _Render(paths, clips, output, clip_segments, on_progress, cancel, preset or default_preset())
    try:
        try:
            return job.run(plan, on_plan)
        except (MediaCancelled, StorageFullError):
            raise
        except MediaError as exc:
            if plan.mode != "smart" or (cancel is not None and cancel.is_set()):
                raise
            log.warning("compose.smart_fallback reason=%s", str(exc).splitlines()[0])
            fallback = full_reencode(plan, clips, f"smart rendering could not be verified ({exc}); re-encoded all")
            return job.run(fallback, on_plan)
    finally:
        job.cleanup()


class _Render:
    """One composition's runs and the scratch files they leave next to the output (all removed at the end)."""

    def __init__(
        self,
        paths: list[Path],
        clips: list[Clip],
        output: Path,
        clip_segments: Sequence[Sequence[Segment]],
        on_progress: Callable[[float], None] | None,
        cancel: threading.Event | None,
        preset: str,
    ) -> None:
        self.paths, self.clips, self.output = [Path(p) for p in paths], clips, output
        self.clip_segments = clip_segments
        self.on_progress, self.cancel, self.preset = on_progress, cancel, preset
        # This run's own prefix: a leftover writer of an earlier attempt never touches what we verify and keep.
        self.prefix = f".{output.stem}.{uuid.uuid4().hex[:12]}"
        self.scratch: list[Path] = []

    def temp(self, suffix: str) -> Path:
        path = self.output.with_name(f"{self.prefix}.{suffix}")
        self.scratch.append(path)
        return path

    def cleanup(self) -> None:
        for path in self.scratch:
            path.unlink(missing_ok=True)

    def run(self, plan: CompositionPlan, on_plan: Callable[[CompositionPlan], None] | None) -> Rendered:
        if on_plan is not None:
            on_plan(plan)
        part = self.temp(f"part{self.output.suffix}")
        subs = self._soft_subtitles(plan)
        if plan.mode == "reencode":
            self._encode(plan, list(plan.parts), part, subs, progress=(0.0, 1.0), match=None)
        else:
            self._join(plan, part, subs)
        result = verify_output(part, plan, cancel=self.cancel, subtitles=subs is not None)
        os.replace(part, self.output)  # atomic: `output` is either absent or a verified file
        log.info("compose.done %s", plan.summary())
        return Rendered(result, plan)

    # Runs -------------------------------------------------------------------------------------
    def _join(self, plan: CompositionPlan, part: Path, subs: Path | None) -> None:
        """Encode the parts that need it (smart), then join every file by stream copy."""
        encoded = [p for p in plan.parts if p.action == "encode"]
        work = sum(p.duration for p in encoded) + COPY_COST * plan.expected_duration
        files: list[tuple[Path, float, float, float]] = []
        copied = [self.paths[p.clip] for p in plan.parts if p.action == "copy"]
        delay = reorder_delay(copied[0]) if copied else None
        match = Match(track_timescale(plan), delay if encoded else None)
        # A copied run that stops at a keyframe inside its clip (a split trim): the demuxer's out point is a
        # decode time, and the keyframe's own is `delay` frames before its picture; stop the picture there.
        early = (delay or 0) / plan.fps + SEEK_MARGIN_S
        picture_outpoints = []
        segments = {n: self.temp(f"seg{n}.mp4") for n, p in enumerate(plan.parts) if p.action == "encode"}
        self._encode_parts(plan, segments, match, work)
        done = sum(p.duration for p in encoded)
        for n, p in enumerate(plan.parts):
            if p.action == "copy":  # the source itself, from its in point (a keyframe) to its out point
                files.append((self.paths[p.clip], p.start, p.end, p.duration))
                inside = p.end < self.clips[p.clip].picture_end - TRIM_EPSILON_S
                picture_outpoints.append(p.end - early if inside else p.end)
                continue
            files.append((segments[n], 0.0, p.duration, p.duration))
            picture_outpoints.append(p.duration)
        listing = self.temp("concat.txt")
        listing.write_text(concat_list(files), encoding="utf-8")
        pictures = listing
        if any(out != f[2] for out, f in zip(picture_outpoints, files, strict=True)):
            pictures = self.temp("concat-video.txt")
            video_files = [(f[0], f[1], out, f[3]) for f, out in zip(files, picture_outpoints, strict=True)]
            pictures.write_text(concat_list(video_files), encoding="utf-8")
        args = copy_args(pictures, listing, part, has_audio=plan.has_audio, subtitles=subs)
        self._ffmpeg(args, plan.expected_duration, part, (done / work, 1.0 - done / work))

    def _encode_parts(self, plan: CompositionPlan, segments: dict[int, Path], match: Match, work: float) -> None:
        """Re-encode the smart plan's `encode` parts into their segment files, ENCODES_AT_ONCE at a time.

        The encoders' threads only run ffmpeg: this thread reports the summed progress, records their
        children in the attempt's scope and stops them all on a cancel or on the first failure.
        """
        parts = [(n, plan.parts[n]) for n in segments]
        fractions = [0.0] * len(parts)
        stop = threading.Event()
        scope = process.current_scope()
        spawned: queue.SimpleQueue[int] = queue.SimpleQueue()

        def encode(i: int, n: int, part: Part) -> None:
            def report(fraction: float) -> None:
                fractions[i] = fraction

            with process.attempt_scope(scope[0], spawned.put) if scope else nullcontext():
                self._encode(plan, [part], segments[n], None, match=match, report=report, cancel=stop)

        def watch() -> None:
            while not spawned.empty():
                process.record_child(spawned.get())  # in this thread's scope: the task's own record
            if self.on_progress is not None:
                self.on_progress(min(sum(f * p.duration for f, (_, p) in zip(fractions, parts, strict=True)) / work, 1))
            if self.cancel is not None and self.cancel.is_set():
                stop.set()

        with ThreadPoolExecutor(max_workers=ENCODES_AT_ONCE, thread_name_prefix="encode") as pool:
            futures: list[Future[None]] = [pool.submit(encode, i, n, p) for i, (n, p) in enumerate(parts)]
            running = set(futures)
            while running:
                _, running = wait(running, timeout=WATCH_S, return_when=FIRST_EXCEPTION)
                watch()
                if any(f.done() and f.exception() is not None for f in futures):
                    stop.set()  # the first failure stops the others: the whole render has failed
            watch()
        if self.cancel is not None and self.cancel.is_set():
            raise MediaCancelled("Cancelled: ffmpeg was stopped.")
        errors = [e for e in (f.exception() for f in futures) if e is not None]
        if errors:
            raise next((e for e in errors if not isinstance(e, MediaCancelled)), errors[0])

    def _encode(
        self,
        plan: CompositionPlan,
        parts: list[Part],
        target: Path,
        subs: Path | None,
        *,
        progress: tuple[float, float] = (0.0, 1.0),
        match: Match | None,
        report: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        graph = self.temp(f"filter{uuid.uuid4().hex[:8]}.txt")
        burns = [self._burn_file(plan, p) for p in parts]
        # By file: the graph grows with the clips, and argv has a hard size limit ("Argument list too long").
        graph.write_text(filter_graph(self.clips, parts, plan, burns), encoding="utf-8")
        args = reencode_args(
            [self.paths[p.clip] for p in parts], [self.clips[p.clip] for p in parts], parts, graph, target,
            plan=plan, preset=self.preset, subtitles=subs, match=match,
        )  # fmt: skip
        self._ffmpeg(args, sum(p.duration for p in parts), target, progress, report=report, cancel=cancel)

    def _ffmpeg(
        self,
        args: list[str],
        seconds: float,
        target: Path,
        span: tuple[float, float],
        *,
        report: Callable[[float], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        """One ffmpeg run; progress scaled into `span` of the render (or raw to `report`), stopped by
        `cancel` (default: the render's)."""
        cancel = cancel or self.cancel
        if cancel is not None and cancel.is_set():
            raise MediaCancelled("Cancelled: ffmpeg was stopped.")
        base, width = span
        report = report or self.on_progress

        def scaled(fraction: float) -> None:
            if report is not None:
                report(min(base + width * fraction, 1.0))

        run_ffmpeg(args, expected_duration=seconds, output=target, on_progress=scaled, cancel=cancel)

    # Captions ---------------------------------------------------------------------------------
    def _soft_subtitles(self, plan: CompositionPlan) -> Path | None:
        if plan.subtitles != "soft":
            return None
        cues = timeline_captions(plan, self.clip_segments)
        if not cues:
            return None
        path = self.temp("subs.srt")
        path.write_text(to_srt(cues), encoding="utf-8")
        return path

    def _burn_file(self, plan: CompositionPlan, part: Part) -> Path | None:
        if plan.subtitles != "burn" or part.clip >= len(self.clip_segments):
            return None
        cues = cut(self.clip_segments[part.clip], part.start, part.end)
        if not cues:
            return None
        path = self.temp(f"burn{uuid.uuid4().hex[:8]}.srt")
        path.write_text(to_srt(cues), encoding="utf-8")
        return path


def concat_list(files: list[tuple[Path, float, float, float]]) -> str:
    """A concat demuxer list of (file, in point, out point, duration); quotes escaped the way the demuxer reads
    them. In points are keyframes (0, or the first one inside a trim); each file then lasts exactly its
    part's `duration` on the output (picture frame boundaries), so the next file starts on the frame grid
    and both streams start it together (no drift however many joins)."""
    lines = []
    for path, inpoint, outpoint, duration in files:
        quoted = str(Path(path).resolve()).replace("'", "'\\''")
        lines.append(f"file '{quoted}'\ninpoint {inpoint:.6f}\noutpoint {outpoint:.6f}\nduration {duration:.6f}\n")
    return "".join(lines)


def copy_args(
    video_list: Path, audio_list: Path, output: Path, *, has_audio: bool, subtitles: Path | None = None
) -> list[str]:
    """Concat demuxer, the picture copied as it is, the sound placed by its timestamps (JOIN_AUDIO_FILTER);
    the sound may come from a list of its own (out points in presentation time where the picture's are
    decode times); a subtitle file becomes a mov_text track."""
    args = ["-f", "concat", "-safe", "0", "-i", str(video_list)]
    sound = 0
    if has_audio and audio_list != video_list:
        args += ["-f", "concat", "-safe", "0", "-i", str(audio_list)]
        sound = 1
    if subtitles is not None:
        args += ["-i", str(subtitles)]
    args += ["-map", "0:v:0"]
    if has_audio:
        args += ["-map", f"{sound}:a:0", "-af", JOIN_AUDIO_FILTER, "-c:a", "aac", "-b:a", AUDIO_BITRATE]
    if subtitles is not None:
        args += ["-map", f"{sound + 1}:0", "-c:s", "mov_text"]
    return [*args, "-c:v", "copy", "-movflags", "+faststart", str(output)]


def mux_subtitles_args(video: Path, subtitles: Path, output: Path) -> list[str]:
    """A rendered file with a subtitle file added as a mov_text track, everything else copied."""
    args = ["-i", str(video), "-i", str(subtitles), "-map", "0:v:0", "-map", "0:a?", "-map", "1:0"]
    return [*args, "-c:v", "copy", "-c:a", "copy", "-c:s", "mov_text", "-movflags", "+faststart", str(output)]


def filter_value(text: str) -> str:
    """A filter option value escaped for both levels ffmpeg parses (the option string, then the graph)."""
    level1 = "".join("\\" + ch if ch in "\\':" else ch for ch in text)
    return "".join("\\" + ch if ch in "\\'[],;" else ch for ch in level1)


def filter_graph(clips: list[Clip], parts: list[Part], plan: CompositionPlan, burns: Sequence[Path | None] = ()) -> str:
    """One concat filter graph over `parts` (input k is part k): each scaled to fit, padded, set to the plan's
    rate, cut to its frames, captions drawn if asked; sound resampled and cut or padded to the same length
    (silence where a clip has none)."""
    w, h = plan.width, plan.height
    rate = Fraction(plan.fps or DEFAULT_FPS).limit_denominator(1001)
    layout = "stereo" if plan.channels == 2 else "mono"
    chains, pads = [], []
    for k, part in enumerate(parts):
        clip = clips[part.clip].probe
        samples = round(part.frames / float(rate) * plan.sample_rate)
        burn = burns[k] if k < len(burns) else None
        draw = f",subtitles=filename={filter_value(str(burn))}:force_style={filter_value(BURN_STYLE)}" if burn else ""
        chains.append(
            f"[{k}:v:0]setpts=PTS-STARTPTS,fps={rate.numerator}/{rate.denominator},"
            f"scale={w}:{h}:force_original_aspect_ratio=decrease,pad={w}:{h}:(ow-iw)/2:(oh-ih)/2,setsar=1,"
            f"format=yuv420p{draw},tpad=stop_mode=clone:stop=-1,trim=end_frame={part.frames},setpts=PTS-STARTPTS[v{k}]"
        )
        if clip.has_audio:
            source = f"[{k}:a:0]asetpts=PTS-STARTPTS,aresample={plan.sample_rate}"
        else:
            source = f"anullsrc=r={plan.sample_rate}:cl={layout}"
        chains.append(
            f"{source},aformat=sample_fmts=fltp:sample_rates={plan.sample_rate}:channel_layouts={layout},"
            f"apad=whole_len={samples},atrim=end_sample={samples},asetpts=PTS-STARTPTS[a{k}]"
        )
        pads.append(f"[v{k}][a{k}]")
    chains.append(f"{''.join(pads)}concat=n={len(parts)}:v=1:a=1[v][a]")
    return ";".join(chains)


def reencode_args(
    paths: list[Path],
    clips: list[Clip],
    parts: list[Part],
    graph_file: Path,
    output: Path,
    *,
    plan: CompositionPlan,
    preset: str,
    subtitles: Path | None = None,
    match: Match | None = None,
) -> list[str]:
    """One ffmpeg run: each input opened at its in point (`-ss` before `-i`: seek, then decode exactly),
    all through the filter_graph() in `graph_file`, libx264 + AAC, moov atom first."""
    args: list[str] = []
    for path, clip, part in zip(paths, clips, parts, strict=True):
        if clip.trimmed:  # a hair before the in point's frame (so rounding cannot drop it), a frame past the end
            seek = max(part.start - SEEK_MARGIN_S, 0.0)
            args += ["-ss", f"{seek:.6f}", "-t", f"{part.end - seek + 1 / (plan.fps or DEFAULT_FPS):.6f}"]
        args += ["-i", str(path)]
    if subtitles is not None:
        args += ["-i", str(subtitles)]
    args += ["-filter_complex_script", str(graph_file), "-map", "[v]", "-map", "[a]"]
    if subtitles is not None:
        args += ["-map", f"{len(paths)}:0", "-c:s", "mov_text"]
    args += ["-c:v", "libx264", "-preset", preset, "-pix_fmt", "yuv420p"]
    if match is not None and match.timescale:
        args += ["-video_track_timescale", str(match.timescale)]
    if match is not None and match.reorder_delay is not None:
        args += ["-x264-params", X264_REORDER[min(match.reorder_delay, 2)]]
    args += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", str(plan.sample_rate), "-ac", str(plan.channels)]
    return [*args, "-movflags", "+faststart", str(output)]


def duration_tolerance(plan: CompositionPlan) -> float:
    """Copy is exact to a frame or two; re-encoding at a new frame rate may round each clip by a frame."""
    per_clip = 1.0 / (plan.fps or DEFAULT_FPS)
    return 0.25 + per_clip * 4 + 0.01 * plan.expected_duration


def keyframe_times(path: Path) -> tuple[float, ...]:
    """Presentation times of the video keyframes (packet headers only: no decoding)."""
    cmd = [ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags"]
    done = process.run([*cmd, "-of", "csv=p=0", str(path)], timeout=PROBE_KEYFRAMES_TIMEOUT_S)
    if done.returncode != 0:
        return ()
    times = []
    for line in done.stdout.decode("ascii", "replace").splitlines():
        pts, _, flags = line.partition(",")
        if flags.startswith("K"):
            try:
                times.append(round(float(pts), 6))
            except ValueError:
                continue
    return tuple(sorted(times))


def reorder_delay(path: Path) -> int | None:
    """The video stream's reorder delay in frames (ffprobe's has_b_frames), None when it cannot say."""
    cmd = [ffprobe_binary(), "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=has_b_frames"]
    done = process.run([*cmd, "-of", "csv=p=0", str(path)], timeout=60)
    text = done.stdout.decode("ascii", "replace").strip()
    return int(text) if done.returncode == 0 and text.isdigit() else None


def subtitle_streams(path: Path) -> list[str]:
    """The codecs of the file's subtitle streams (ProbeResult describes picture and sound only)."""
    cmd = [ffprobe_binary(), "-v", "error", "-select_streams", "s", "-show_entries", "stream=codec_name"]
    done = process.run([*cmd, "-of", "csv=p=0", str(path)], timeout=60)
    return [line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()]


def verify_output(
    output: Path, plan: CompositionPlan, *, cancel: threading.Event | None = None, subtitles: bool = False
) -> ProbeResult:
    """The result has the planned streams and length and decodes cleanly; anything else is an error, not a success."""
    result = probe(output)
    if not result.has_video or result.has_audio != plan.has_audio:
        wanted = "video and audio" if plan.has_audio else "video"
        got = " and ".join(k for k, v in (("video", result.has_video), ("audio", result.has_audio)) if v) or "nothing"
        raise MediaError(f"The composed file has {got}, expected {wanted} ({plan.mode}).")
    if abs(result.duration_s - plan.expected_duration) > duration_tolerance(plan):
        raise MediaError(
            f"The composed file lasts {result.duration_s:.2f} s, expected {plan.expected_duration:.2f} s ({plan.mode})."
        )
    if (result.width, result.height) != (plan.width, plan.height):
        raise MediaError(f"The composed file is {result.width}x{result.height}, expected {plan.width}x{plan.height}.")
    if subtitles and not subtitle_streams(output):
        raise MediaError("The composed file has no subtitle track, expected one (soft subtitles).")
    try:
        check_decodes(output, result.duration_s, cancel=cancel)
    except DecodeError as exc:
        raise MediaError(f"The composed file does not decode cleanly: {exc}: {exc.lines[0]}") from exc
    return result
