"""Measure frame-sampling strategies on the corpus sample videos; prints a Markdown report.

Each strategy hashes the two references and every sample video, then reports the verdict
percentages per upload and the upload hashing time. Used to choose the defaults in media.py
(`--out docs/sampling.md` writes it there, between its marks, stamped with the date, commit and machine).
Usage: python scripts/measure_sampling.py [--out docs/sampling.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from hashmatch.media.hashing import hash_media
from hashmatch.media.sampling import DENSE, SPARSE
from hashmatch_tools.bench.blocks import Provenance, write_block
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


ROOT = Path(__file__).resolve().parents[1]
VIDEOS = ROOT.parent / "shared" / "corpus" / "videos" / "tmk-sample-videos"
REFERENCES = {"chair": "chair-orig-22-sd-bar", "pattern": "pattern-hd-no-bar"}
UPLOADS = {
    "chair": ["chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar", "chair-22-with-large-logo-bar"],
    "pattern": ["pattern-longer-no-bar", "pattern-sd-grey-bar", "pattern-sd-with-small-logo-bar", "pattern-sd-with-large-logo-bar"],
}
NEGATIVE = "doorknob-hd-no-bar"

# Upload samplings: `min_frames=0` keeps the interval fixed whatever the length, as the
# earlier samplers did; the default densifies short media (see Sampling.step).
STRATEGIES = {
    "1 fps both sides": (replace(SPARSE, interval=1.0, min_frames=0, max_side=DENSE.max_side), replace(SPARSE, interval=1.0, min_frames=0)),
    "dense ref / keyframes only": (DENSE, replace(SPARSE, interval=10_000.0, keyframes=True, min_frames=0)),
    "dense ref / every keyframe + 1 frame per 0.5 s (earlier default)": (DENSE, replace(SPARSE, interval=0.5, keyframes=True, min_frames=0, skip_unreferenced=False)),
    "dense ref / 1 frame per 2 s": (DENSE, replace(SPARSE, interval=2.0, min_frames=0)),
    "dense ref / 1 frame per 1 s": (DENSE, replace(SPARSE, interval=1.0, min_frames=0)),
    "dense ref / 1 frame per 2 s, at least 16 frames (default)": (DENSE, SPARSE),
}


BLOCK = "python scripts/measure_sampling.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/measure_sampling.py", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the tables into this markdown file, between its marks")
    args = parser.parse_args(argv)
    if not VIDEOS.is_dir():
        print(f"corpus not found at {VIDEOS}", file=sys.stderr)
        return 2
    provenance = Provenance.capture(ROOT)
    lines: list[str] = []

    def say(text: str = "") -> None:
        """Print a line of the report and keep it for --out."""
        print(text, flush=True)
        lines.append(text)

    say("| strategy | upload | query % | reference % | match |")
    say("|---|---|---|---|---|")
    timings = []
    for label, (reference_sampling, upload_sampling) in STRATEGIES.items():
        references = {family: hash_reference(VIDEOS / f"{name}.mp4", sampling=reference_sampling) for family, name in REFERENCES.items()}
        upload_seconds = 0.0
        video_seconds = 0.0
        for family, names in UPLOADS.items():
            for name in [*names, NEGATIVE]:
                started = time.perf_counter()
                upload = hash_media(VIDEOS / f"{name}.mp4", role="upload", sampling=upload_sampling)
                upload_seconds += time.perf_counter() - started
                video_seconds += upload.duration
                verdict = compare(references[family], upload)
                say(f"| {label} | {name} vs {REFERENCES[family]} | {verdict.query_match_percent:.1f} | {verdict.reference_match_percent:.1f} | {'yes' if verdict.match else 'no'} |")
        timings.append((label, 60.0 * upload_seconds / video_seconds))
    say()
    say("| strategy | upload hashing, seconds per minute of video |")
    say("|---|---|")
    for label, per_minute in timings:
        say(f"| {label} | {per_minute:.2f} |")
    if args.out:
        write_block(args.out, BLOCK, "\n".join(lines), provenance, BLOCK + " --out " + str(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
