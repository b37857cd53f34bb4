"""`make bench`: upload hashing against the `vpdq` package (the real baseline), the in-project "vPDQ way" and bare decoding, as whole processes in one run.

Each kind of work (processes.py beside this module) runs as its own process, so imports and
start-up count as they do for a real caller; the parent takes the process's wall time, its CPU
time (user + system, from wait4) and its peak resident memory. The ratios are taken within the
run, against `vpdq` as its documentation runs it, so they stay comparable on a shared, noisy
machine where absolute seconds do not; CPU time is printed beside wall time because on a loaded
machine wall time mostly measures the wait for a core (and a Lambda of 2048 MB has about 1.2
vCPU, so CPU time is close to what it pays).

Videos: the corpus sample videos, and 3-minute 720p and 1080p H.264 videos that videos.py beside
this module makes from the corpus photographs (cached in .cache/bench) with three keyframe
placements: x264's defaults (keyint 250 and a keyframe at each scene cut, every 6 s here), and
fixed GOPs of 2 s and 8 s with scene cuts off; then 60-minute 1080p uploads against the hasher's
timeout, and reference hashing on the corpus videos. Issue 27's cost check runs in the same
run: upload hashing on the made videos with today's keyed sampling against the fixed grid of
commit BEFORE_KEYED_SAMPLING (its shared/hashmatch, exported from git into .cache/bench and put
first on the upload process's path). `--only-sampling-cost` runs that check alone (upload hashing
now and with the fixed grid, on the made videos of the GOPs `--gops` names), a narrow and
repeatable measure while working on sampling's cost; it writes no document.
Usage: python -m hashmatch_tools.bench.hashing [--out docs/sampling.md] [--quick] [--repeats N] [--seconds S] [--only-sampling-cost [--gops 2 8 x264]]
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

from hashmatch_tools.bench.blocks import README, Provenance, write_block, write_headline
from hashmatch_tools.bench.videos import BenchVideo, ensure, probe

ROOT = Path(__file__).resolve().parents[3]  # the repository: shared/hashmatch_tools/bench/<this file>
CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLES = CORPUS / "videos" / "tmk-sample-videos"
CACHE = ROOT / ".cache" / "bench"
KEYFRAMES = (None, 2.0, 8.0)  # x264's defaults, then fixed GOPs
HEIGHTS = (720, 1080)
HOUR = [BenchVideo(1080, 3600, 2), BenchVideo(1080, 3600, 8)]
# Lambda's x86 price per GB-second and per request (us-east-1, 2026).
PRICE_GB_SECOND = 0.0000166667
PRICE_REQUEST = 0.20 / 1_000_000
BLOCK, HEADLINE = "make bench", "make bench: headline"
# main just before keyed sampling was merged (90e9800, issue 27): uploads sampled on a fixed grid from t = 0, keyframes first.
BEFORE_KEYED_SAMPLING = "873e636"


@dataclass
class Run:
    seconds: float  # wall time of the whole process
    cpu: float  # its user + system CPU seconds
    peak_mb: float
    frames: int
    working: float  # seconds after the imports: what a warm Lambda pays per upload


def core_at(commit: str) -> Path:
    """A folder holding the core (shared/hashmatch) as it was at `commit`, exported from git once into .cache/bench."""
    folder = CACHE / f"core-{commit}"
    if not (folder / "hashmatch").is_dir():
        partial = CACHE / f"core-{commit}.part"
        partial.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit, "shared/hashmatch"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "--strip-components=1", "-C", str(partial)], input=archive, check=True)
        partial.rename(folder)
    return folder


def run(kind: str, path: Path, core: Path | None = None) -> Run:
    """One process doing one kind of work on one video: wall time and CPU time (wait4), and the peak memory it reports.
    `core`: a folder whose `hashmatch` the process imports instead of this checkout's (an earlier commit's core)."""
    env = None
    if core is not None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(core), str(ROOT / "shared"), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "hashmatch_tools.bench.processes", kind, str(path)], stdout=subprocess.PIPE, cwd=ROOT, env=env)
    output = process.stdout.read().decode()  # read before waiting: a full pipe would block the child
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{kind} {path.name} failed: exit {process.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    return Run(seconds, usage.ru_utime + usage.ru_stime, report["peak_mb"], report["frames"], report["seconds"])


def median_run(kind: str, path: Path, repeats: int) -> Run:
    runs = [run(kind, path) for _ in range(repeats)]
    return Run(
        statistics.median(r.seconds for r in runs), statistics.median(r.cpu for r in runs), max(r.peak_mb for r in runs), runs[0].frames, statistics.median(r.working for r in runs)
    )


def interleaved(kinds: tuple[str, ...], path: Path, repeats: int, before: Path | None = None) -> dict[str, Run]:
    """Each kind `repeats` times, the kinds taking turns (so a burst of load on the machine falls on all of them), medians per kind.
    With `before` (an earlier commit's core, core_at), an `upload before` kind takes its turn too: upload hashing with that core."""
    runs: dict[str, list[Run]] = {kind: [] for kind in kinds + (("upload before",) if before is not None else ())}
    for _ in range(repeats):
        for kind in kinds:
            runs[kind].append(run(kind, path))
        if before is not None:
            runs["upload before"].append(run("upload", path, core=before))
    return {
        kind: Run(statistics.median(r.seconds for r in rs), statistics.median(r.cpu for r in rs), max(r.peak_mb for r in rs), rs[0].frames, statistics.median(r.working for r in rs))
        for kind, rs in runs.items()
    }


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
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.skip_frame = "NONKEY"
            if skip:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            frames = [frame.to_ndarray(width=512, height=288, format="rgb24", interpolation="AREA") for frame in container.decode(stream)]
        seconds = time.perf_counter() - started
        return seconds, [PdqSignal.hash_frame(rgb).hash for rgb in frames]

    plain_seconds, plain = keyframes(False)
    skipped_seconds, skipped = keyframes(True)
    distances = [a - b for a, b in zip(plain, skipped)]
    return plain_seconds, skipped_seconds, int(np.median(distances)), max(distances)


def _keyframes(path: Path, limit: int) -> list:
    """Up to `limit` keyframes of a video, as PyAV frames."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) >= limit:
                break
    return frames


def scaler_choices(path: Path, limit: int = 40) -> list[tuple[str, float, float]]:
    """Per libswscale filter: ms to scale one frame to 512 px wide (one scaler kept, as media/video.py keeps it) and the mean PDQ distance
    of the scaled frame's hash to the full-size frame's."""
    import pdqhash
    from av.video.reformatter import VideoReformatter

    frames = _keyframes(path, limit)
    full = [pdqhash.compute(np.ascontiguousarray(frame.to_ndarray(format="rgb24")))[0] for frame in frames]
    height = round(512 * frames[0].height / frames[0].width / 2) * 2
    names = ("AREA", "FAST_BILINEAR", "POINT")
    scalers = {name: VideoReformatter() for name in names}
    scaled = {name: [scalers[name].reformat(frame, width=512, height=height, format="rgb24", interpolation=name).to_ndarray() for frame in frames] for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for _round in range(3):  # the filters take turns; the median of three rounds each
        for name in names:
            started = time.perf_counter()
            for frame in frames:
                scalers[name].reformat(frame, width=512, height=height, format="rgb24", interpolation=name).to_ndarray()
            times[name].append(1000 * (time.perf_counter() - started) / len(frames))
    found = []
    for name in names:
        bits = [int(np.count_nonzero(pdqhash.compute(np.ascontiguousarray(rgb))[0] != reference)) for rgb, reference in zip(scaled[name], full)]
        found.append((name, statistics.median(times[name]), float(np.mean(bits))))
    return found


def skip_frame_choices(path: Path) -> list[tuple[str, float, int]]:
    """Seconds to decode the whole video and frames decoded, with every frame, skipping non-reference frames (NONREF) and skipping every B-frame (BIDIR)."""
    found = []
    for setting in ("DEFAULT", "NONREF", "BIDIR"):
        started = time.perf_counter()
        count = 0
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.skip_frame = setting
            for _frame in container.decode(stream):
                count += 1
        found.append((setting, time.perf_counter() - started, count))
    return found


def imagehash_choice(paths: list[Path], limit: int = 30) -> tuple[float, float, float, int]:
    """pHash on a video frame as imagehash takes it (Lanczos from full size) and box-reduced first (signals/imagehash_signals.py):
    ms per frame each way, and the mean and largest pHash distance between the two."""
    import imagehash
    from PIL import Image

    from hashmatch.signals.imagehash_signals import _prepared

    rgbs = [frame.to_ndarray(format="rgb24") for path in paths for frame in _keyframes(path, limit)]
    imagehash.phash(_prepared(rgbs[0]))  # its first call imports SciPy
    started = time.perf_counter()
    direct = [imagehash.phash(Image.fromarray(rgb).convert("L")) for rgb in rgbs]
    direct_ms = 1000 * (time.perf_counter() - started) / len(rgbs)
    started = time.perf_counter()
    reduced = [imagehash.phash(_prepared(rgb)) for rgb in rgbs]
    reduced_ms = 1000 * (time.perf_counter() - started) / len(rgbs)
    distances = [a - b for a, b in zip(direct, reduced)]
    return direct_ms, reduced_ms, float(np.mean(distances)), int(max(distances))


def vpdq_version() -> str:
    """The installed vpdq's version, or why it cannot run (the benchmark needs it: it is the baseline)."""
    done = subprocess.run([sys.executable, "-c", "import importlib.metadata as m, vpdq; print(m.version('vpdq'))"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(
            "bench: error: the vpdq package does not import (make setup installs it from requirements/dev.txt; building it needs "
            "the FFmpeg development packages of requirements/apt.txt, `make system-packages`):\n" + done.stderr.strip()[-600:]
        )
    return done.stdout.strip()


def keyed_sampling_cost(rows: list[tuple[str, float | None, float, float, float, float]]) -> tuple[list[str], str]:
    """Issue 27's cost check from (video, GOP seconds or None, upload wall s per minute now, with the fixed grid, and the same in CPU
    seconds): a table and its summary line. The bound is on wall time (what Lambda bills): on 2 s GOPs keyed sampling costs at most
    1.3x the fixed grid's per-minute time (the worst 2 s GOP video counts); the CPU ratio is printed beside it, as wall time on a
    loaded machine is partly the wait for a core."""
    table = [
        f"| video | GOP | upload s per min, keyed sampling | upload s per min, fixed grid ({BEFORE_KEYED_SAMPLING}) | keyed / fixed grid, wall | keyed / fixed grid, CPU |",
        "|---|---|---|---|---|---|",
    ]
    for name, gop, now, before, now_cpu, before_cpu in rows:
        table.append(f"| {name} | {'x264 defaults' if gop is None else f'{gop:g} s'} | {now:.2f} ({now_cpu:.2f}) | {before:.2f} ({before_cpu:.2f}) | {now / before:.2f}x | {now_cpu / before_cpu:.2f}x |")
    by_gop = {gop: [now / before for _name, g, now, before, *_cpu in rows if g == gop] for gop in KEYFRAMES}
    parts = [f"{'x264 defaults' if gop is None else f'{gop:g} s GOPs'} {max(found):.2f}x" for gop, found in by_gop.items() if found]
    two = by_gop.get(2.0) or [float("nan")]
    verdict = "within" if max(two) <= 1.3 else "OVER"
    return table, f"Keyed sampling's per-minute upload hashing cost against the fixed grid (worst video of each kind): {', '.join(parts)}; 2 s GOPs {verdict} issue 27's 1.3x."


def sampling_cost_only(heights: tuple[int, ...], gops: list[float | None], seconds: float, repeats: int) -> int:
    """Issue 27's cost check alone: upload hashing with keyed sampling and with the fixed grid (BEFORE_KEYED_SAMPLING), taking turns,
    on the made videos of `gops` (None: x264's defaults); per video the medians of wall, CPU and after-import seconds, then the
    table and the line `make bench` prints."""
    before = core_at(BEFORE_KEYED_SAMPLING)
    print(f"Upload hashing, keyed sampling against the fixed grid ({BEFORE_KEYED_SAMPLING}), median of {repeats} whole processes each, taking turns:", flush=True)
    rows: list[tuple[str, float | None, float, float, float, float]] = []
    for video in [BenchVideo(height, seconds, gop) for height in heights for gop in gops]:
        path = ensure(video, CORPUS, CACHE)
        minutes = probe(path)["duration"] / 60
        runs = interleaved(("upload",), path, repeats, before=before)
        now, then = runs["upload"], runs["upload before"]
        print(
            f"- {path.name}: keyed {now.seconds:.2f} s wall, {now.cpu:.2f} s CPU, {now.working:.2f} s after imports, {now.frames} frames; "
            f"fixed grid {then.seconds:.2f} s wall, {then.cpu:.2f} s CPU, {then.working:.2f} s after imports, {then.frames} frames",
            flush=True,
        )
        rows.append((path.name, video.gop_seconds, now.seconds / minutes, then.seconds / minutes, now.cpu / minutes, then.cpu / minutes))
    table, line = keyed_sampling_cost(rows)
    print("\n" + "\n".join(table) + "\n\n" + line)
    return 0


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.hashing", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the tables into this markdown file, between its `make bench` marks (and the headline into README.md where it has its marks)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the made videos (180: three minutes)")
    parser.add_argument("--quick", action="store_true", help="720p made videos only, one run each, no corpus, hour-long or reference rows (a smoke run)")
    parser.add_argument("--only-sampling-cost", action="store_true", help="only issue 27's cost check (keyed sampling against the fixed grid), printed, no document written")
    parser.add_argument("--gops", nargs="+", default=["2"], help="with --only-sampling-cost: the made videos' GOPs in seconds, or x264 for x264's defaults (default: 2)")
    args = parser.parse_args(argv)
    if not SAMPLES.is_dir():
        print(f"bench: error: no corpus at {CORPUS} (the made videos are made from its photographs)", file=sys.stderr)
        return 2
    if args.only_sampling_cost:
        gops = [None if gop == "x264" else float(gop) for gop in args.gops]
        return sampling_cost_only(HEIGHTS[:1] if args.quick else HEIGHTS, gops, args.seconds, 1 if args.quick else args.repeats)
    provenance = Provenance.capture(ROOT)
    version = vpdq_version()
    repeats = 1 if args.quick else args.repeats
    command = "make bench" if argv is None and len(sys.argv) == 1 else "python -m hashmatch_tools.bench.hashing " + " ".join(sys.argv[1:] if argv is None else argv)
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    heights = HEIGHTS[:1] if args.quick else HEIGHTS
    made_videos = [BenchVideo(height, args.seconds, keyframes) for height in heights for keyframes in KEYFRAMES]
    made = [(video, ensure(video, CORPUS, CACHE)) for video in made_videos]
    memory = hasher_setting("MemorySize")
    timeout = hasher_setting("Timeout")
    say(
        f"Median of {repeats} run(s) per cell, each a whole process (start-up and imports included), the kinds taking turns on each video. "
        f"`vpdq` is the vpdq package {version} (the field's own C++ video hasher) as its README runs it: `vpdq.computeHash(path)`, "
        "a hash a second and thread_count=0 (a hashing thread per core beside its decoder). `upload` is what the hasher function "
        "does with an upload; `vPDQ way` is the in-project imitation (PyAV decodes every frame, PDQ at full size once a second); "
        "`decode` decodes every frame and does nothing else. Wall seconds, with CPU seconds (user + system) in brackets; "
        "the ratios are vpdq's time over upload's (above 1: upload hashing is faster)."
    )
    say()
    say(
        "| video | length s | keyframes | median GOP s | decode s | **vpdq** s | vPDQ way s | upload s | upload frames "
        "| **vpdq / upload, wall** | **vpdq / upload, CPU** | vPDQ way / vpdq, wall | upload s per min | peak MB: vpdq / vPDQ way / upload |"
    )
    say("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    corpus_videos = [] if args.quick else sorted(SAMPLES.glob("*.mp4"))
    ratios: dict[str, list[tuple[float, float]]] = {}  # row group -> (wall ratio, CPU ratio)
    per_minute: list[float] = []
    placement = {path: video.keyframes for video, path in made}
    gops = {path: video.gop_seconds for video, path in made}
    before_core = core_at(BEFORE_KEYED_SAMPLING)
    sampling_rows: list[tuple[str, float | None, float, float, float, float]] = []
    for path in [path for _video, path in made] + corpus_videos:
        facts = probe(path)
        runs = interleaved(("decode", "vpdq", "baseline", "upload"), path, repeats, before=before_core if path in placement else None)
        decode, real, baseline, upload = runs["decode"], runs["vpdq"], runs["baseline"], runs["upload"]
        minutes = facts["duration"] / 60
        group = f"{facts['height']}p, {placement[path]}" if path in placement else "corpus clips"
        ratios.setdefault(group, []).append((real.seconds / upload.seconds, real.cpu / upload.cpu))
        if path in placement:
            per_minute.append(upload.seconds / minutes)
            before_run = runs["upload before"]
            sampling_rows.append((path.name, gops[path], upload.seconds / minutes, before_run.seconds / minutes, upload.cpu / minutes, before_run.cpu / minutes))
        say(
            f"| {path.name} | {facts['duration']:.1f} | {placement.get(path, 'as found')} | {facts['median_gop']:.1f} | {decode.seconds:.2f} ({decode.cpu:.2f}) "
            f"| {real.seconds:.2f} ({real.cpu:.2f}) | {baseline.seconds:.2f} ({baseline.cpu:.2f}) | {upload.seconds:.2f} ({upload.cpu:.2f}) | {upload.frames} "
            f"| **{_ratio(real.seconds, upload.seconds)}** | **{_ratio(real.cpu, upload.cpu)}** | {_ratio(baseline.seconds, real.seconds)} | {upload.seconds / minutes:.2f} "
            f"| {real.peak_mb:.0f} / {baseline.peak_mb:.0f} / {upload.peak_mb:.0f} |"
        )
    say()
    summary = []
    for group, values in ratios.items():
        walls, cpus = [w for w, _c in values], [c for _w, c in values]
        spread = f"{min(walls):.1f}-{max(walls):.1f}x wall (median {statistics.median(walls):.1f}x), {min(cpus):.1f}-{max(cpus):.1f}x CPU" if len(values) > 1 else f"{walls[0]:.1f}x wall, {cpus[0]:.1f}x CPU"
        summary.append(f"- {group}: {spread}")
    say("Upload hashing against vpdq, by kind of video (vpdq's time over upload's):")
    say()
    lines.extend(summary)
    print("\n".join(summary), flush=True)
    say()
    worst = max(per_minute)
    cost = 1000 * (worst * memory / 1024 * PRICE_GB_SECOND + PRICE_REQUEST)
    say(
        f"Lambda cost of hashing 1,000 one-minute uploads at the hasher's {memory} MB: **${cost:.4f}** "
        f"(the slowest made video's {worst:.2f} wall seconds per minute here; Lambda gives {memory} MB about {memory / 1769:.2f} vCPU against the 2 cores here, "
        f"and the S3 read comes on top)."
    )
    say()
    say(
        f"Issue 27's cost check, in the same runs: `upload` as above (keyed, unpredictable sampling) against the same upload hashing with the core of "
        f"commit {BEFORE_KEYED_SAMPLING} (main just before keyed sampling landed: a fixed grid from t = 0, keyframes first), wall seconds per minute of video with CPU seconds in brackets, medians of {repeats}; the bound is on wall time, what Lambda bills."
    )
    say()
    sampling_table, sampling_line = keyed_sampling_cost(sampling_rows)
    for line in sampling_table:
        say(line)
    say()
    say(sampling_line)
    say()
    first = next(path for video, path in made if video.gop_seconds == 2.0)
    plain, skipped, median_bits, worst_bits = loop_filter_effect(first)
    say(
        f"Skipping the loop filter on keyframes ({first.name}): {plain:.2f} s with it, {skipped:.2f} s without ({plain / skipped:.2f}x), "
        f"PDQ distance to the filtered frames median {median_bits}, max {worst_bits} bits: not adopted, as it moves hashes for little time."
    )
    say()
    eight = next(path for video, path in made if video.gop_seconds == 8.0)
    decoded = skip_frame_choices(eight)
    say(
        f"Decoding all of {eight.name} (frames between keyframes, as long GOPs need them): "
        + "; ".join(f"{'every frame' if setting == 'DEFAULT' else f'skip_frame={setting}'} {seconds:.2f} s ({count} frames)" for setting, seconds, count in decoded)
        + ". BIDIR is not adopted: H.264 allows P-frames to refer to reference B-frames, and HEVC codes most frames as B."
    )
    say()
    scalers = scaler_choices(first)
    say(
        f"Scaling a frame of {first.name} to 512 px with one scaler kept, per frame, and the mean PDQ distance to the full-size frame's hash: "
        + "; ".join(f"{name} {ms:.2f} ms, {bits:.1f} bits" for name, ms, bits in scalers)
        + ". AREA stays: PDQ's own box filters average."
    )
    if not args.quick:
        say()
        direct_ms, reduced_ms, mean_bits, most_bits = imagehash_choice([SAMPLES / "chair-orig-22-sd-bar.mp4", SAMPLES / "pattern-hd-no-bar.mp4"])
        say(
            f"pHash (imagehash) on keyframes of chair-orig-22-sd-bar and pattern-hd-no-bar: {direct_ms:.1f} ms per frame from full size, "
            f"{reduced_ms:.1f} ms box-reduced first (signals/imagehash_signals.py); the hash moves by {mean_bits:.2f} bits on average, {most_bits} at most, of 64."
        )
    if not args.quick:
        say()
        say(f"| hour-long upload | length s | GOP s | bytes | upload s (CPU s) | frames | peak MB | within the hasher's {timeout} s |")
        say("|---|---|---|---|---|---|---|---|")
        for video in HOUR:
            path = ensure(video, CORPUS, CACHE)
            facts = probe(path)
            upload = run("upload", path)
            say(f"| {path.name} | {facts['duration']:.0f} | {facts['median_gop']:.1f} | {facts['bytes']:,} | {upload.seconds:.1f} ({upload.cpu:.1f}) | {upload.frames} | {upload.peak_mb:.0f} | {'yes' if upload.seconds <= timeout else 'NO'} |")
        say()
        say("| reference hashing | length s | decode s (CPU s) | reference s (CPU s) | reference / decode, wall | reference s per min |")
        say("|---|---|---|---|---|---|")
        for path in corpus_videos:
            facts = probe(path)
            decode = run("decode", path)
            reference = run("reference", path)
            say(
                f"| {path.name} | {facts['duration']:.1f} | {decode.seconds:.2f} ({decode.cpu:.2f}) | {reference.seconds:.2f} ({reference.cpu:.2f}) "
                f"| {reference.seconds / decode.seconds:.1f}x | {60 * reference.seconds / facts['duration']:.1f} |"
            )
    headline = "Upload hashing against the vpdq package " + version + " (whole processes, vpdq's time over upload's; " + f"median of {repeats}):\n\n" + "\n".join(summary) + "\n\n" + sampling_line
    if args.out:
        write_block(args.out, BLOCK, "\n".join(lines), provenance, command)
        write_block(args.out, HEADLINE, headline, provenance, command)
        written = write_headline(HEADLINE, headline, provenance, command, [README])
        print(f"written to {args.out}" + "".join(f" and {path.name}" for path in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
