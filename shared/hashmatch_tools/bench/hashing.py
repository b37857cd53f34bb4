"""`make bench`: upload hashing against the vPDQ way and against bare decoding, as whole processes in one run.

Each kind of work (processes.py beside this module) runs as its own process, so imports and
start-up count as they do for a real caller; its peak memory is the process's own maximum
resident size. Ratios are taken within the run, so they stay comparable on a shared, noisy
machine where absolute seconds do not.

Videos: the corpus sample videos, and 3-minute 720p and 1080p H.264 videos with 2 s and 8 s
GOPs that videos.py beside this module makes from the corpus photographs (cached in
.cache/bench); then a 60-minute 1080p upload against the hasher's timeout.
Usage: python -m hashmatch_tools.bench.hashing [--out docs/sampling.md] [--quick] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from hashmatch_tools.bench.videos import BenchVideo, ensure, probe

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = CORPUS / "videos" / "tmk-sample-videos"
CACHE = ROOT / ".cache" / "bench"
MADE = [BenchVideo(720, 180, 2), BenchVideo(720, 180, 8), BenchVideo(1080, 180, 2), BenchVideo(1080, 180, 8)]
HOUR = [BenchVideo(1080, 3600, 2), BenchVideo(1080, 3600, 8)]
# Lambda's x86 price per GB-second and per request (us-east-1, 2026).
PRICE_GB_SECOND = 0.0000166667
PRICE_REQUEST = 0.20 / 1_000_000
MARK_START, MARK_END = "<!-- make bench: start -->", "<!-- make bench: end -->"


@dataclass
class Run:
    seconds: float  # wall time of the whole process
    peak_mb: float
    frames: int
    working: float  # seconds after the imports: what a warm Lambda pays per upload


def run(kind: str, path: Path) -> Run:
    """One process doing one kind of work on one video: wall time and peak memory (its own maxrss)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "hashmatch_tools.bench.processes", kind, str(path)], stdout=subprocess.PIPE, cwd=ROOT)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    output = process.stdout.read().decode()
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{kind} {path.name} failed: exit {os.waitstatus_to_exitcode(status)}")
    report = json.loads(output.strip().splitlines()[-1])
    return Run(seconds, usage.ru_maxrss / 1024, report["frames"], report["seconds"])


def median_run(kind: str, path: Path, repeats: int) -> Run:
    runs = [run(kind, path) for _ in range(repeats)]
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mb for r in runs), runs[0].frames, statistics.median(r.working for r in runs))


def hasher_setting(name: str) -> int:
    """A numeric property (MemorySize, Timeout) of the hash-upload function in template.yaml."""
    text = (ROOT / "template.yaml").read_text()
    block = text[text.index("HashUploadFunction:") :]
    return int(re.search(rf"{name}:\s*(\d+)", block).group(1))


def loop_filter_effect(path: Path) -> tuple[float, float, int, int]:
    """Keyframes decoded with and without the loop filter: seconds each, and the median and largest PDQ distance between them."""
    from hashmatch.signals import PdqSignal

    def keyframes(skip: bool) -> tuple[float, list]:
        started = time.perf_counter()
        hashes = []
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.skip_frame = "NONKEY"
            if skip:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            frames = [frame.to_ndarray(width=512, height=288, format="rgb24", interpolation="AREA") for frame in container.decode(stream)]
        seconds = time.perf_counter() - started
        hashes = [PdqSignal.hash_frame(rgb).hash for rgb in frames]
        return seconds, hashes

    plain_seconds, plain = keyframes(False)
    skipped_seconds, skipped = keyframes(True)
    distances = [a - b for a, b in zip(plain, skipped)]
    return plain_seconds, skipped_seconds, int(np.median(distances)), max(distances)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.hashing", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the tables into this markdown file, between its `make bench` marks")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--quick", action="store_true", help="the made videos only, one run each, no hour-long video")
    args = parser.parse_args(argv)
    if not SAMPLES.is_dir():
        print(f"bench: error: no corpus at {CORPUS} (the made videos are made from its photographs)", file=sys.stderr)
        return 2
    repeats = 1 if args.quick else args.repeats
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    made = []
    for video in MADE:
        made.append(ensure(video, CORPUS, CACHE))
    memory = hasher_setting("MemorySize")
    timeout = hasher_setting("Timeout")
    say(f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores with `make bench`; median of {repeats} runs, each a whole process (start-up and imports included).")
    say("`upload` is what the hasher function does with an upload; `vPDQ way` decodes every frame and takes PDQ at full size once a second; `decode` decodes every frame and does nothing else.")
    say()
    say("The last three columns leave out start-up and imports (about half a second), which a warm function does not pay again per upload.")
    say()
    say("| video | length s | GOP s | decode s | vPDQ way s | upload s | upload frames | vPDQ way / upload | decode / upload | upload s per min | peak MB: decode / vPDQ / upload | after imports: vPDQ way s / upload s / ratio |")
    say("|---|---|---|---|---|---|---|---|---|---|---|---|")
    corpus_videos = [] if args.quick else sorted(SAMPLES.glob("*.mp4"))
    per_minute: list[float] = []
    for path in made + corpus_videos:
        facts = probe(path)
        decode = median_run("decode", path, repeats)
        baseline = median_run("baseline", path, repeats)
        upload = median_run("upload", path, repeats)
        minutes = facts["duration"] / 60
        if path in made:
            per_minute.append(upload.seconds / minutes)
        say(
            f"| {path.name} | {facts['duration']:.1f} | {facts['median_gop']:.1f} | {decode.seconds:.2f} | {baseline.seconds:.2f} | {upload.seconds:.2f} | {upload.frames} "
            f"| **{baseline.seconds / upload.seconds:.1f}x** | {decode.seconds / upload.seconds:.1f}x | {upload.seconds / minutes:.2f} "
            f"| {decode.peak_mb:.0f} / {baseline.peak_mb:.0f} / {upload.peak_mb:.0f} "
            f"| {baseline.working:.2f} / {upload.working:.2f} / {baseline.working / upload.working:.1f}x |"
        )
    say()
    worst = max(per_minute)
    cost = 1000 * (worst * memory / 1024 * PRICE_GB_SECOND + PRICE_REQUEST)
    say(
        f"Lambda cost of hashing 1,000 one-minute uploads at the hasher's {memory} MB: **${cost:.4f}** "
        f"(the slowest made video's {worst:.2f} s per minute here; Lambda gives {memory} MB about {memory / 1769:.2f} vCPU against the 2 cores here, "
        f"and the S3 read comes on top)."
    )
    say()
    plain, skipped, median_bits, worst_bits = loop_filter_effect(made[0])
    say(
        f"Skipping the loop filter on keyframes ({made[0].name}): {plain:.2f} s with it, {skipped:.2f} s without ({plain / skipped:.2f}x), "
        f"PDQ distance to the filtered frames median {median_bits}, max {worst_bits} bits: not adopted, as it moves hashes for little time."
    )
    if not args.quick:
        say()
        say(f"| hour-long upload | length s | GOP s | bytes | upload s | frames | peak MB | within the hasher's {timeout} s |")
        say("|---|---|---|---|---|---|---|---|")
        for video in HOUR:
            path = ensure(video, CORPUS, CACHE)
            facts = probe(path)
            upload = run("upload", path)
            say(f"| {path.name} | {facts['duration']:.0f} | {facts['median_gop']:.1f} | {facts['bytes']:,} | {upload.seconds:.1f} | {upload.frames} | {upload.peak_mb:.0f} | {'yes' if upload.seconds <= timeout else 'NO'} |")
        say()
        say("| reference hashing | length s | decode s | reference s | reference / decode | reference s per min |")
        say("|---|---|---|---|---|---|")
        for path in corpus_videos:
            facts = probe(path)
            decode = run("decode", path)
            reference = run("reference", path)
            say(f"| {path.name} | {facts['duration']:.1f} | {decode.seconds:.2f} | {reference.seconds:.2f} | {reference.seconds / decode.seconds:.1f}x | {60 * reference.seconds / facts['duration']:.1f} |")
    if args.out:
        text = args.out.read_text() if args.out.exists() else f"{MARK_START}\n{MARK_END}\n"
        if MARK_START not in text:
            text += f"\n{MARK_START}\n{MARK_END}\n"
        before, rest = text.split(MARK_START, 1)
        _, after = rest.split(MARK_END, 1)
        args.out.write_text(before + MARK_START + "\n" + "\n".join(lines) + "\n" + MARK_END + after)
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
