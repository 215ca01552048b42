"""Transcription benchmark, side by side in one run, on the same generated speech.

Per minute of audio: (1) extraction, ffmpeg's 16 kHz mono WAV out of an H.264/AAC video; (2) the engine
alone on that WAV; (3) our end-to-end `transcription` job (task started_at -> finished_at: extraction,
engine, segments saved, every progress write) against the engine alone (goal: overhead under 10%);
(4) where a `reprocess` job spends its time, step by step (what its weights should reflect).

The speech is espeak-ng reading a sentence over and over under a testsrc2 picture, generated once.
The engine is PocketSphinx (offline) unless --engine says otherwise; with --engine openai set
OPENAI_API_KEY (and OPENAI_BASE_URL) in the environment. --fake-openai adds a row for the OpenAI path
against the local fake server, whose answer is instant: what is left is our own overhead.

    .venv/bin/python bench/bench_transcribe.py [--runs 3] [--minutes 1] [--engine pocketsphinx] [--fake-openai]

Figures go to docs/BENCHMARKS.md (section "Transcription").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CACHE = Path(os.environ.get("MONTAGE_BENCH_CACHE", ROOT / "var" / "bench-clips"))
SENTENCE = "one two three four five. six seven eight nine ten. the quick brown fox jumps over the lazy dog."
SENTENCE_SECONDS = 5.7  # espeak-ng en-us+f2 at 140 words per minute


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (the median is reported)")
    parser.add_argument("--minutes", type=float, default=1.0, help="length of the speech")
    parser.add_argument("--engine", default="pocketsphinx", choices=["pocketsphinx", "openai"])
    parser.add_argument("--fake-openai", action="store_true", help="also time the OpenAI path on the fake server")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args, _ = parser.parse_known_args()  # bench/run_all.py passes every benchmark the same flags
    return args


def configure(workdir: Path) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "TASK_BACKEND": "immediate",
        "TASK_AUTOSTART": "0",
        "PARAGRAPH_ENGINE": "rules",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-only",
        "MAX_UPLOAD_MB": "100000",
    }
    os.environ.update(env)
    return env


def speech_video(minutes: float) -> Path:
    """An H.264/AAC 320x240 video of `minutes` of espeak-ng speech, generated once into the cache."""
    seconds = minutes * 60
    path = CACHE / f"speech-{seconds:g}s.mp4"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "speech.wav"
        text = " ".join([SENTENCE] * (int(seconds / SENTENCE_SECONDS) + 2))
        subprocess.run(["espeak-ng", "-v", "en-us+f2", "-s", "140", "-w", str(raw), text], check=True)
        partial = path.with_suffix(".part.mp4")
        subprocess.run(
            ["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-i", str(raw),
             "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-ar", "48000", "-ac", "2", str(partial)],
            check=True,
        )  # fmt: skip
        partial.replace(path)
    return path


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = func()
    return time.perf_counter() - started, value


def run_job(kind: str, owner: Any, video: Any, engine: str) -> dict[str, Any]:
    """One job through the real task machinery (immediate backend): total and per-step seconds."""
    from videos.models import ProcessingTask, SubTask
    from videos.services.pipeline import reprocess_start, transcription_start

    start = reprocess_start if kind == "reprocess" else transcription_start
    task = ProcessingTask.objects.get(pk=start(owner=owner, video=video, engine=engine).pk)
    if task.status != ProcessingTask.Status.COMPLETED:
        raise RuntimeError(f"{kind} {task.status}: {task.error_message}")
    steps = {
        s.name: (s.finished_at - s.started_at).total_seconds()
        for s in SubTask.objects.filter(task=task).order_by("position")
    }
    return {"seconds": (task.finished_at - task.started_at).total_seconds(), "steps": steps, "result": task.result}


def measure(owner: Any, video: Any, engine: str, runs: int, workdir: Path) -> dict[str, list[Any]]:
    from videos.services.transcripts import extract_speech_audio, transcribe_audio

    source = Path(video.file.path)
    figures: dict[str, list[Any]] = {"extract": [], "engine": [], "job": [], "job_steps": [], "reprocess": []}
    transcribe_audio(extract_speech_audio(source, work_dir=workdir / "wav"), engine=engine)  # warm-up: imports, client
    for run in range(runs):
        print(f"run {run + 1}/{runs}: {engine}", flush=True)
        seconds, wav = timed(lambda: extract_speech_audio(source, work_dir=workdir / "wav"))
        figures["extract"].append(seconds)
        seconds, transcript = timed(lambda: transcribe_audio(wav, engine=engine))  # noqa: B023 - called at once
        figures["engine"].append(seconds)
        job = run_job("transcription", owner, video, engine)
        assert job["result"]["segments"] == len(transcript.segments), (job["result"], len(transcript.segments))
        figures["job"].append(job["seconds"])
        figures["job_steps"].append(job["steps"])
        figures["reprocess"].append(run_job("reprocess", owner, video, engine))
    return figures


def main() -> None:
    args = parse_args()
    video_path = speech_video(args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        configure(workdir)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True)
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model

        from videos.services.videos import video_import

        owner = get_user_model().objects.create_user("bench")
        video = video_import(owner=owner, path=video_path)
        run_job("transcription", owner, video, args.engine)  # warm-up, not measured: URLconf, page cache
        results = {args.engine: measure(owner, video, args.engine, args.runs, workdir)}
        if args.fake_openai:
            from videos.tests.fake_openai import FakeOpenAI

            server = FakeOpenAI().start()
            settings.OPENAI_API_KEY, settings.OPENAI_BASE_URL = server.api_key, server.base_url
            try:
                results["openai (fake server)"] = measure(owner, video, "openai", args.runs, workdir)
            finally:
                server.stop()
        duration = video.duration_s
    body = report(args, duration, results)
    print(body)
    if not args.no_write:
        from bench.bench_tasks import write_section

        flags = [f"--runs {args.runs}"] if args.runs != 3 else []
        flags += [f"--minutes {args.minutes:g}"] if args.minutes != 1 else []
        flags += [f"--engine {args.engine}"] if args.engine != "pocketsphinx" else []
        flags += ["--fake-openai"] if args.fake_openai else []
        write_section("Transcription", body, " ".join([".venv/bin/python bench/bench_transcribe.py", *flags]))


def report(args: argparse.Namespace, duration: float, results: dict[str, dict[str, list[Any]]]) -> str:
    median = statistics.median
    per_minute = 60 / duration
    lines = [
        f"Speech: {duration:.1f} s of espeak-ng (en-us+f2, 140 wpm) under a 320x240 testsrc2 picture, H.264/AAC "
        f"48 kHz stereo. Median of {args.runs} runs after one unmeasured warm-up job; times per minute of audio. "
        "Extraction = `extract_speech_audio` (ffmpeg to 16 kHz mono s16 WAV); engine = `transcribe_audio` on "
        "that WAV; job = the transcription task's `started_at` -> `finished_at` (extraction, engine on its helper "
        "thread, segments saved, every step and progress write). 2 cores shared with other work.",
        "",
        "| Engine | Extraction / min | Engine alone / min | Job / min | Job vs engine alone | "
        "Job vs extraction + engine | Goal (< 10% over the engine) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in results.items():
        extract, engine, job = median(f["extract"]), median(f["engine"]), median(f["job"])
        over_engine = job / engine - 1
        over_both = job / (extract + engine) - 1
        verdict = "met" if over_engine < 0.10 else "missed"
        if name.startswith("openai (fake"):
            verdict = "n/a (instant engine)"
        lines.append(
            f"| {name} | {extract * per_minute:.2f} s | {engine * per_minute:.2f} s | {job * per_minute:.2f} s | "
            f"{over_engine:+.1%} | {over_both:+.1%} | {verdict} |"
        )
    lines += ["", "Where the time goes (median seconds per step, whole file):", ""]
    lines += ["| Engine | Job | Steps (seconds, share of the job) |", "|---|---|---|"]
    for name, f in results.items():
        for kind, runs in (("transcription", f["job_steps"]), ("reprocess", [r["steps"] for r in f["reprocess"]])):
            names = list(runs[0])
            step_medians = {n: median(r[n] for r in runs) for n in names}
            total = sum(step_medians.values()) or 1
            shares = ", ".join(f"{n} {s:.2f} s ({s / total:.0%})" for n, s in step_medians.items())
            lines.append(f"| {name} | {kind} | {shares} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
