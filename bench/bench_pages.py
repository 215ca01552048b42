"""What the poster frame made at upload costs, side by side with the checks every upload already runs.

An upload is probed (ffprobe) and its last seconds decoded (`check_end_decodes`) before it is stored; since
issue 17 it also gets its poster frame (`thumbnail(..., info=probe)`: one ffmpeg seek, the probe reused).
For reference, the same frame cut the way the reprocess step does (`thumbnail` probing again). Clips:
20 s 640x360, 120 s 640x360 and 30 s 1280x720 (H.264/AAC from lavfi, made first).

    .venv/bin/python bench/bench_pages.py [--runs 5]

Figures go to docs/BENCHMARKS.md (section "Pages: poster at upload").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_reliability import fmt, timed  # noqa: E402
from videos.media.audio import thumbnail  # noqa: E402
from videos.media.probe import probe  # noqa: E402
from videos.media.verify import check_end_decodes  # noqa: E402
from videos.tests.clips import make_clip  # noqa: E402

CLIPS = {"20 s 640x360": (20, 640, 360), "120 s 640x360": (120, 640, 360), "30 s 1280x720": (30, 1280, 720)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (the median is reported)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    args, _ = parser.parse_known_args()  # bench/run_all.py passes every benchmark the same flags
    return args


def main() -> None:
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        load_start = os.getloadavg()[0]
        for label, (seconds, width, height) in CLIPS.items():
            clip = make_clip(work / f"{seconds}-{width}.mp4", seconds=seconds, width=width, height=height, fps=25)
            info = probe(clip)
            checks = timed(lambda: check_end_decodes(clip, probe(clip).duration_s), args.runs)  # noqa: B023
            poster = timed(lambda: thumbnail(clip, work / "p.jpg", info=info), args.runs)  # noqa: B023
            reprobe = timed(lambda: thumbnail(clip, work / "p.jpg"), args.runs)  # noqa: B023
            ratio = statistics.median(poster) / statistics.median(checks)
            rows.append(f"| {label} | {fmt(checks)} | {fmt(poster)} | {ratio:.2f}x | {fmt(reprobe)} |")
        load_end = os.getloadavg()[0]
    body = "\n".join(
        [
            f"Median of {args.runs} runs; H.264/AAC clips from lavfi (testsrc2 + sine), 25 fps. 2 cores shared with "
            f"other work (1-minute load average {load_start:.1f} at the start, {load_end:.1f} at the end).",
            "",
            "| Upload of | Checks it already ran (ffprobe + last 4 s decoded) | Poster frame (new, probe reused) "
            "| Poster / checks | Poster probing again (the reprocess step's way) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Reading: the poster frame is one ffmpeg seek to a tenth of the way in (input seeking lands on the "
            "keyframe before it and decodes from there) and a 480-px JPEG, so its cost follows the picture size "
            "and the keyframe interval, not the length of the file. It adds a fraction of what an upload already "
            "spent checking the file, so a library tile has its picture as the upload's answer arrives instead of "
            "after a reprocess. Reusing the upload's probe saves the second ffprobe the reprocess step pays.",
        ]
    )
    print(body)
    if not args.no_write:
        from bench.bench_tasks import write_section

        write_section("Pages: poster at upload", body, ".venv/bin/python bench/bench_pages.py")


if __name__ == "__main__":
    main()
