"""Hashing speed per minute of video, as ratios to decoding every frame in the same run.

Decoding is the floor any hasher pays; the ratios say what sampling, scaling and hashing add,
and stay comparable on a shared, noisy machine where absolute seconds do not.
Usage: python scripts/bench_hashing.py [VIDEO...]   (default: the corpus sample videos)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import av

from hashmatch.media.hashing import hash_media
from hashmatch_tools.matching import hash_reference

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "corpus" / "videos" / "tmk-sample-videos"
REPEATS = 3


def best_of(function) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def decode_everything(path: Path) -> None:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _frame in container.decode(stream):
            pass


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] or sorted(VIDEOS.glob("*.mp4"))
    if not paths:
        print(f"no videos given and no corpus at {VIDEOS}", file=sys.stderr)
        return 2
    print("| video | duration s | decode s/min | upload s/min | reference s/min | upload / decode | reference / decode |")
    print("|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0, 0.0, 0.0]
    for path in paths:
        duration = hash_media(path).duration
        decode = best_of(lambda: decode_everything(path))
        upload = best_of(lambda: hash_media(path, role="upload"))
        reference = best_of(lambda: hash_reference(path))
        per_minute = 60.0 / duration
        totals = [a + b for a, b in zip(totals, (duration, decode, upload, reference))]
        print(f"| {path.name} | {duration:.1f} | {decode * per_minute:.2f} | {upload * per_minute:.2f} | {reference * per_minute:.2f} | {upload / decode:.2f} | {reference / decode:.2f} |", flush=True)
    duration, decode, upload, reference = totals
    print(f"| all | {duration:.1f} | {60 * decode / duration:.2f} | {60 * upload / duration:.2f} | {60 * reference / duration:.2f} | {upload / decode:.2f} | {reference / decode:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
