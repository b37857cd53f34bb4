"""`python -m hashmatch_tools.evaluation.layout_negatives`: what the layout stage (matching/layouts.py) costs and finds on unrelated pictures.

Each still picture of a part of the negative corpus (its manifest.csv: `split` tuning or
evaluation, `use` still) is an upload, hashed as the hasher hashes one, and its detail picture's
parts are searched, as the layout stage searches them, among every picture of the corpus but the
part's own stills (the other part's pictures and this part's video pictures, each hashed whole as
a reference is, with the PDQ the corpus's manifest records). Every part within the deployed
threshold is a false match: the pictures are distinct by construction (no two within 31 bits,
mirrors and rotations included). The whole frames (the PDQ stage, with their variants) are searched
beside them for comparison. Prints the section "Layout probes on unrelated pictures" of
docs/robustness.md (--out writes it there, between its markers; `make evaluate` keeps it).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time
from pathlib import Path

from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.matching.layouts import LAYOUT_PARTS, _grey, part_hashes
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch_tools.evaluation.segments import write_section

BEGIN, END = "<!-- layout probes: begin -->", "<!-- layout probes: end -->"


def _rows(negatives: Path) -> list[dict]:
    with open(negatives / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def measure(negatives: Path, part: str) -> dict:
    rows = _rows(negatives)
    uploads = [row for row in rows if row["split"] == part and row["use"] == "still"]
    references = [row for row in rows if not (row["split"] == part and row["use"] == "still")]
    index = FrameIndex()
    index.add_still([row["pdq"] for row in references])
    found = {"part": part, "uploads": len(uploads), "references": len(references), "parts": 0, "part_matches": [], "frame_matches": [], "probe_seconds": 0.0}
    for number, row in enumerate(uploads, 1):
        if number % 200 == 0:
            print(f"  {part}: {number}/{len(uploads)}", file=sys.stderr, flush=True)
        upload = hash_media(negatives / row["path"])
        whole = index.search([(frame.timestamp, frame.query_hashes) for frame in upload.usable_frames], PRIMARY_SIGNAL.match_threshold)
        found["frame_matches"] += [(row["path"], str(key)) for key in whole]
        for picture in upload.detail_pictures:
            encoded = encode_detail_picture(picture)
            started = time.perf_counter()
            hashes = part_hashes(_grey(encoded))
            hits = index.search([(0.0, hashes)], PRIMARY_SIGNAL.match_threshold) if hashes else {}
            found["probe_seconds"] += time.perf_counter() - started
            found["parts"] += len(hashes)
            found["part_matches"] += [(row["path"], str(key), min(m.distance for m in matches)) for key, matches in hits.items()]
    return found


def section(results: list[dict], seconds: float, command: str) -> str:
    lines = [
        BEGIN,
        "## Layout probes on unrelated pictures",
        "",
        f"Run on {datetime.date.today().isoformat()}, {seconds / 60:.1f} min, with `{command}` (shared/hashmatch_tools/evaluation/layout_negatives.py). "
        f"The layout stage hashes {len(LAYOUT_PARTS)} parts of each detail picture (each side of a split at 40, 50 and 60 %, the quarters, the ninths) "
        "and searches them as PDQ frames: more searches per upload, so more chances of a false match. Each still picture of a part of the "
        "negative corpus is an upload against every picture of the corpus outside that part's stills, hashed whole; the pictures are "
        f"distinct by construction, so every match within {PRIMARY_SIGNAL.match_threshold} bits is false.",
        "",
        "| part | uploads | reference pictures | parts hashed (quality >= 50) | false part matches | false whole-frame matches (PDQ stage) | probe time per picture |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        matches = "; ".join(f"{path} -> {key} ({distance} bits)" for path, key, distance in result["part_matches"][:5])
        lines.append(
            f"| {result['part']} | {result['uploads']} | {result['references']} | {result['parts']:,} | {len(result['part_matches'])}{': ' + matches if matches else ''} | "
            f"{len(result['frame_matches'])} | {1000 * result['probe_seconds'] / max(1, result['uploads']):.0f} ms |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.evaluation.layout_negatives", description=__doc__.splitlines()[0])
    parser.add_argument("--negatives", type=Path, required=True, help="the negative corpus (manifest.csv with split and use columns)")
    parser.add_argument("--parts", nargs="+", default=["tuning", "evaluation"], choices=["tuning", "evaluation"])
    parser.add_argument("--out", type=Path, help="write the section into this file (docs/robustness.md)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results = [measure(args.negatives, part) for part in args.parts]
    text = section(results, time.perf_counter() - started, "python -m hashmatch_tools.evaluation.layout_negatives --negatives NEGATIVES --out docs/robustness.md")
    print(text)
    if args.out:
        write_section(text, args.out, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
