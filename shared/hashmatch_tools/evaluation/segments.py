"""`python -m hashmatch_tools.evaluation.segments`: the evidence behind the segment rule (verdict.MIN_SEGMENT_SECONDS).

Three measurements, each a table of the section "Excerpts: the segment rule" that `--out` writes
into docs/robustness.md (between its markers; `make evaluate` keeps the section):

- Excerpts of the corpus's chair videos (every variant of chair-orig-22-sd-bar) of 4 to 14 s, at
  their own speed and sped up 1.5x, inside unrelated video: the longest run (segment.longest_run)
  each shows of the reference. The shortest excerpt the rule catches is read off here.
- Unrelated videos from the negative corpus (its videos/ folder, made from Debian's pictures by
  its make_videos.py): one half of a part's videos joined into long references, the other half
  into long uploads, and the other way round; the longest run of every pair with a frame match,
  and every match the verdict makes. The threshold is chosen on the tuning part alone; the
  evaluation part's false positives are reported separately.
- The issue's case: five minutes of a 17-minute "livestream" inside a 12-minute "news report",
  both made from the tuning part's still pictures (slow pans over each).

Everything made or hashed is kept under --cache; a second run takes a minute.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.matching.segment import longest_run
from hashmatch.matching.verdict import MIN_SEGMENT_SECONDS, QUERY_MATCH_THRESHOLD, REFERENCE_MATCH_THRESHOLD, decide
from hashmatch.media.borders import Box, content_box
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import MatchRule, Role, Stage
from hashmatch_tools.evaluation.suite import decode, pan

ROOT = Path(__file__).resolve().parents[3]
BEGIN, END = "<!-- segment rule: begin -->", "<!-- segment rule: end -->"

CHAIR_REFERENCE = "chair-orig-22-sd-bar"
CHAIR_COPIES = ("chair-orig-22-sd-bar", "chair-19-sd-bar", "chair-20-sd-bar", "chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar", "chair-22-with-large-logo-bar")
EXCERPT_SECONDS = (4, 6, 8, 10, 12, 14)
EXCERPT_STARTS = (1.0, 6.0)
SPEEDS = (1.0, 1.5)
FILLER_SECONDS = 20.0  # unrelated video before and after each excerpt (an upload of 40 s or more is sampled every 2 s)
# Negative videos joined per long reference and per long upload.
REFERENCE_GROUP, UPLOAD_GROUP = 8, 6
# The case, in minutes, made at a small size (the rule does not depend on it).
LIVESTREAM_MINUTES, REPORT_MINUTES, EXCERPT_MINUTES, EXCERPT_FROM_MINUTE = 17, 12, 5, 6
MADE_SIZE, MADE_FPS, SECONDS_PER_PICTURE = (320, 180), 10, 6.0


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def encode(frames: list[np.ndarray], fps: float, path: Path) -> None:
    """H.264 at x264's fastest preset: hundreds of minutes of made video, where only what PDQ sees counts."""
    import av

    height, width = frames[0].shape[:2]
    width, height = width // 2 * 2, height // 2 * 2
    with av.open(str(path), mode="w") as muxer:
        stream = muxer.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options={"preset": "ultrafast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")):
                muxer.mux(packet)
        for packet in stream.encode():
            muxer.mux(packet)


class HashCache:
    """Media hashes kept as JSON beside the media (keyed by file, size, time and role)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, path: Path, role: Role) -> MediaHashes:
        stat = path.stat()
        identity = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode()).hexdigest()[:16]
        key = f"{path.stem}-{identity}-{role}.json"
        stored = self.folder / key
        if stored.exists():
            return MediaHashes.from_dict(json.loads(stored.read_text()))
        hashes = hash_media(path, role=Role(role), keep_detail_pictures=False)
        stored.write_text(json.dumps(hashes.to_dict(with_features=False)))
        return hashes


def _run_seconds(upload: MediaHashes, reference: MediaHashes) -> tuple[float, int]:
    """The longest run the upload plays of the reference (PDQ stage, production threshold), and its frame matches."""
    index = FrameIndex()
    index.add("reference", [(frame.timestamp, frame.pdq) for frame in reference.usable_frames], reference.duration)
    frames = upload.usable_frames
    found = index.search([(frame.timestamp, frame.query_hashes) for frame in frames], PRIMARY_SIGNAL.match_threshold).get("reference", [])
    run = longest_run([frame.timestamp for frame in frames], found)
    return (run.reference_seconds if run else 0.0), len(found)


# ------------------------------------------------------------------------------------------- excerpts


@dataclass(frozen=True)
class Excerpt:
    copy: str
    seconds: int
    start: float
    speed: float
    run_seconds: float
    frame_matches: int


def _fitted(frames: list[np.ndarray], size: tuple[int, int], bars_like: np.ndarray) -> list[np.ndarray]:
    """Unrelated frames in the copy's picture area, with the copy's bars around them.

    The hasher takes one crop box for a whole video, from its first frames: filler without the copy's
    bars would leave them on the copy's frames, and the measurement would be of that, not of the run.
    """
    width, height = size
    box = content_box(bars_like) or Box(0, height, 0, width)
    out = []
    for frame in frames:
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[box.top : box.bottom, box.left : box.right] = np.asarray(Image.fromarray(frame).resize((box.right - box.left, box.bottom - box.top), Image.Resampling.BILINEAR))
        out.append(canvas)
    return out


def excerpts(corpus: Path, filler_videos: list[Path], cache: Path, hashed: HashCache) -> list[Excerpt]:
    videos = corpus / "videos" / "tmk-sample-videos"
    reference = hashed(videos / f"{CHAIR_REFERENCE}.mp4", Role.REFERENCE)
    filler: list[np.ndarray] = []
    for path in filler_videos:
        frames, _ = decode(path)
        filler.extend(frames)
    found = []
    for copy in CHAIR_COPIES:
        frames, fps = decode(videos / f"{copy}.mp4")
        # At half the frame rate (15 fps): the upload is sampled every 2 s whatever its rate, and half the frames encode in half the time.
        frames, fps = frames[::2], fps / 2
        height, width = frames[0].shape[:2]
        size = (width // 2 * 2, height // 2 * 2)
        middle = np.ascontiguousarray(frames[len(frames) // 2][: size[1], : size[0]])
        before = _fitted(filler[: int(FILLER_SECONDS * fps)], size, middle)
        after = _fitted(filler[int(FILLER_SECONDS * fps) : int(2 * FILLER_SECONDS * fps)], size, middle)
        for seconds in EXCERPT_SECONDS:
            for start in EXCERPT_STARTS:
                for speed in SPEEDS:
                    first = int(start * fps)
                    picked = [frames[first + int(i * speed)] for i in range(int(seconds * fps / speed)) if first + int(i * speed) < len(frames)]
                    if len(picked) * speed < seconds * fps * 0.98:
                        continue  # the copy is too short for this excerpt
                    path = cache / "excerpts" / f"{copy}-{seconds}s-from-{start:g}-x{speed:g}.mp4"
                    if not path.exists():
                        path.parent.mkdir(parents=True, exist_ok=True)
                        _note(f"  making {path.name}")
                        encode(before + [np.ascontiguousarray(f[: size[1], : size[0]]) for f in picked] + after, fps, path)
                    upload = hashed(path, Role.UPLOAD)
                    run, matched = _run_seconds(upload, reference)
                    found.append(Excerpt(copy, seconds, start, speed, run, matched))
    return found


# ------------------------------------------------------------------------------------------- negatives


@dataclass
class NegativeResults:
    part: str
    references: int = 0
    reference_seconds: float = 0.0
    reference_frames: int = 0
    uploads: int = 0
    upload_seconds: float = 0.0
    pairs: int = 0
    frame_comparisons: int = 0
    pairs_with_frame_matches: int = 0
    runs: list[float] = None  # the longest run of every pair with a frame match
    matches: list[str] = None  # the verdict's matches (all false), as "upload -> reference (rule)"


def negative_videos(negatives: Path, part: str) -> list[Path]:
    with open(negatives / "videos" / "manifest.csv", newline="") as handle:
        return [negatives / row["path"] for row in csv.DictReader(handle) if row["split"] == part]


def _joined(paths: list[Path], path: Path) -> Path:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _note(f"  making {path.relative_to(path.parents[2])}")
        frames, fps = [], 15.0
        for source in paths:
            decoded, fps = decode(source)
            frames.extend(decoded)
        encode(frames, fps, path)
    return path


def negatives_of_part(negatives: Path, part: str, cache: Path, hashed: HashCache) -> NegativeResults:
    videos = negative_videos(negatives, part)
    halves = (videos[0::2], videos[1::2])
    results = NegativeResults(part, runs=[], matches=[])
    for side, (as_references, as_uploads) in enumerate((halves, halves[::-1])):
        references = {}
        for start in range(0, len(as_references), REFERENCE_GROUP):
            path = _joined(as_references[start : start + REFERENCE_GROUP], cache / "negatives" / part / f"reference-{side}-{start:04d}.mp4")
            references[path.stem] = hashed(path, Role.REFERENCE)
        uploads = {}
        for start in range(0, len(as_uploads), UPLOAD_GROUP):
            path = _joined(as_uploads[start : start + UPLOAD_GROUP], cache / "negatives" / part / f"upload-{side}-{start:04d}.mp4")
            uploads[path.stem] = hashed(path, Role.UPLOAD)
        index = FrameIndex()
        for name, reference in references.items():
            index.add(name, [(frame.timestamp, frame.pdq) for frame in reference.usable_frames], reference.duration)
        results.references += len(references)
        results.reference_seconds += sum(r.duration for r in references.values())
        results.reference_frames += sum(len(r.usable_frames) for r in references.values())
        results.uploads += len(uploads)
        results.upload_seconds += sum(u.duration for u in uploads.values())
        results.pairs += len(uploads) * len(references)
        for name, upload in uploads.items():
            frames = upload.usable_frames
            results.frame_comparisons += sum(len(frame.query_hashes) for frame in frames) * sum(len(r.usable_frames) for r in references.values())
            found = index.search([(frame.timestamp, frame.query_hashes) for frame in frames], PRIMARY_SIGNAL.match_threshold)
            for key, matches in found.items():
                results.pairs_with_frame_matches += 1
                run = longest_run([frame.timestamp for frame in frames], matches)
                results.runs.append(run.reference_seconds if run else 0.0)
                verdict = decide(frames, matches, references[key].duration, stage=Stage.PDQ, threshold=PRIMARY_SIGNAL.match_threshold)
                if verdict.match:
                    results.matches.append(f"{name} -> {key} ({verdict.rule})")
    return results


# ------------------------------------------------------------------------------------------- the case


def _still_pictures(negatives: Path, part: str) -> list[Path]:
    with open(negatives / "manifest.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == part and row["use"] == "still"]
    return [negatives / row["path"] for row in sorted(rows, key=lambda row: row["sha256"])]


def _slideshow(pictures: list[Path], path: Path) -> Path:
    """Slow pans over the pictures, SECONDS_PER_PICTURE each, at MADE_SIZE and MADE_FPS."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _note(f"  making {path.name} ({len(pictures)} pictures)")
        frames = []
        for picture in pictures:
            image = ImageOps.exif_transpose(Image.open(picture)).convert("RGB")
            image.thumbnail((800, 800), Image.Resampling.BOX)
            frames.extend(pan(np.asarray(image), seconds=SECONDS_PER_PICTURE, fps=MADE_FPS, size=MADE_SIZE))
        encode(frames, MADE_FPS, path)
    return path


def news_report(negatives: Path, cache: Path, hashed: HashCache):
    pictures = _still_pictures(negatives, "tuning")
    per_minute = int(60 / SECONDS_PER_PICTURE)
    livestream = pictures[: LIVESTREAM_MINUTES * per_minute]
    others = pictures[LIVESTREAM_MINUTES * per_minute :]
    around = (REPORT_MINUTES - EXCERPT_MINUTES) * per_minute // 2
    excerpt = livestream[EXCERPT_FROM_MINUTE * per_minute : (EXCERPT_FROM_MINUTE + EXCERPT_MINUTES) * per_minute]
    stream_path = _slideshow(livestream, cache / "news-report" / "livestream-17min.mp4")
    report_path = _slideshow(others[:around] + excerpt + others[around : 2 * around], cache / "news-report" / "report-12min.mp4")
    reference, upload = hashed(stream_path, Role.REFERENCE), hashed(report_path, Role.UPLOAD)
    index = FrameIndex()
    index.add("livestream", [(frame.timestamp, frame.pdq) for frame in reference.usable_frames], reference.duration)
    matches = index.search([(frame.timestamp, frame.query_hashes) for frame in upload.usable_frames], PRIMARY_SIGNAL.match_threshold).get("livestream", [])
    return reference, upload, decide(upload.usable_frames, matches, reference.duration, stage=Stage.PDQ, threshold=PRIMARY_SIGNAL.match_threshold)


# ------------------------------------------------------------------------------------------- report


def _share(hit: int, total: int) -> str:
    return f"{hit / total:.2f} ({hit}/{total})" if total else "-"


def section(found: list[Excerpt], negative: list[NegativeResults], case, seconds: float, command: str) -> str:
    lines = [
        BEGIN,
        "## Excerpts: the segment rule",
        "",
        f"Run on {datetime.date.today().isoformat()}, {seconds / 60:.1f} min, with `{command}` "
        "(shared/hashmatch_tools/evaluation/segments.py). A video upload matches a reference video when at least "
        f"{QUERY_MATCH_THRESHOLD:.0f} % of its usable frames match (`query_share`), when it covers at least "
        f"{REFERENCE_MATCH_THRESHOLD:.0f} % of the reference (`reference_share`), or, beside them, when it plays a stretch of the reference "
        f"through that covers at least **{MIN_SEGMENT_SECONDS:g} s** of it (`segment`): consecutive upload frames (one unmatched "
        "frame allowed between two) matching reference frames in the same order, each step of the reference's time "
        "following the upload's at a speed from 0.5x to 2x, within 1 s (matching/segment.py). A run's length is the reference "
        "time from its first matched frame to its last, so with an upload frame every 2 s an excerpt needs about "
        f"{MIN_SEGMENT_SECONDS:g} s + 2 s of the reference to make one. The match message names the rule that decided (`rule`).",
        "",
        f"### Excerpts of the chair videos inside unrelated video ({FILLER_SECONDS:.0f} s before and after)",
        "",
        f"Each copy of {CHAIR_REFERENCE} (the reference, 22.4 s), cut at {', '.join(f'{s:g} s' for s in EXCERPT_STARTS)}, at its own speed and 1.5x; "
        "the cell is the share of excerpts whose longest run reaches the rule's length, then the shortest and longest run (s).",
        "",
        "| excerpt | " + " | ".join(f"x{speed:g}" for speed in SPEEDS) + " |",
        "|---|" + "---|" * len(SPEEDS),
    ]
    for length in EXCERPT_SECONDS:
        cells = []
        for speed in SPEEDS:
            runs = [e.run_seconds for e in found if e.seconds == length and e.speed == speed and e.copy != "chair-22-with-large-logo-bar"]
            caught = sum(run >= MIN_SEGMENT_SECONDS for run in runs)
            cells.append(f"{_share(caught, len(runs))}, {min(runs):.1f}-{max(runs):.1f}" if runs else "-")
        lines.append(f"| {length} s | " + " | ".join(cells) + " |")
    large = [e for e in found if e.copy == "chair-22-with-large-logo-bar"]
    lines += [
        "",
        "The copy with the large logo is left out of the table: PDQ matches few of its frames at all (the verdict leaves it "
        f"to local features); its longest runs were {', '.join(f'{e.run_seconds:.1f}' for e in large[:6])}{' ...' if len(large) > 6 else ''} s.",
        "",
        "### Unrelated videos (negative corpus)",
        "",
        f"Each part's videos, one half joined {REFERENCE_GROUP} at a time into references and the other {UPLOAD_GROUP} at a time into uploads, "
        "then the other way round; every upload against every reference of its part at once, PDQ within "
        f"{PRIMARY_SIGNAL.match_threshold} bits as the matcher searches.",
        "",
        "| part | references (s, usable frames) | uploads (s) | pairs | frame comparisons | pairs with a frame match | longest run (s) | runs >= rule | false matches |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for result in negative:
        runs = result.runs or [0.0]
        lines.append(
            f"| {result.part} | {result.references} ({result.reference_seconds:.0f} s, {result.reference_frames:,}) | {result.uploads} ({result.upload_seconds:.0f} s) | "
            f"{result.pairs} | {result.frame_comparisons:,} | {result.pairs_with_frame_matches} | {max(runs):.1f} | {sum(r >= MIN_SEGMENT_SECONDS for r in runs)} | "
            f"{len(result.matches)}{': ' + '; '.join(result.matches) if result.matches else ''} |"
        )
    if case is not None:
        reference, upload, verdict = case
        run = verdict.segment
        lines += [
            "",
            "### The issue's case: five minutes of a 17-minute livestream inside a 12-minute report",
            "",
            f"Made from the tuning part's still pictures (a {SECONDS_PER_PICTURE:g} s pan over each, {MADE_SIZE[0]}x{MADE_SIZE[1]}, {MADE_FPS} fps): "
            f"the livestream ({reference.duration / 60:.1f} min) as the reference, the report ({upload.duration / 60:.1f} min) as the upload, "
            f"minutes {EXCERPT_FROM_MINUTE}-{EXCERPT_FROM_MINUTE + EXCERPT_MINUTES} of the livestream in its middle.",
            "",
            "| match | rule | query share | reference share | longest run (upload s -> reference s) |",
            "|---|---|---|---|---|",
            f"| {'yes' if verdict.match else 'no'} | {verdict.rule or '-'} | {verdict.query_match_percent:.1f} % | {verdict.reference_match_percent:.1f} % | "
            + (f"{run.query_start:.0f}-{run.query_end:.0f} -> {run.reference_start:.0f}-{run.reference_end:.0f} ({run.reference_seconds:.0f} s, {run.frames} frames) |" if run else "- |"),
        ]
    lines += ["", END]
    return "\n".join(lines)


def write_section(text: str, out: Path, begin: str = BEGIN, end: str = END) -> None:
    """Replace the section between the markers in `out` (or add it at the end)."""
    existing = out.read_text() if out.exists() else ""
    if begin in existing and end in existing:
        head, rest = existing.split(begin, 1)
        existing = head.rstrip("\n") + "\n\n" + rest.split(end, 1)[1].lstrip("\n")
    out.write_text(existing.rstrip("\n") + "\n\n" + text + "\n")


def kept_section(path: Path, begin: str = BEGIN, end: str = END) -> str:
    """The section as it stands in `path` ('' when there is none): what `make evaluate` carries over."""
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        return begin + text.split(begin, 1)[1].split(end, 1)[0] + end
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.evaluation.segments", description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--negatives", type=Path, required=True, help="the negative corpus (manifest.csv, videos/manifest.csv with the tuning/evaluation split)")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "segments")
    parser.add_argument("--parts", nargs="+", default=["tuning", "evaluation"], choices=["tuning", "evaluation"])
    parser.add_argument("--out", type=Path, help="write the section into this file (docs/robustness.md)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    hashed = HashCache(args.cache / "hashes")
    tuning = negative_videos(args.negatives, "tuning")
    _note("excerpts of the chair videos ...")
    found = excerpts(args.corpus, tuning[:6], args.cache, hashed)
    negative = []
    for part in args.parts:
        _note(f"negative videos, {part} part ...")
        negative.append(negatives_of_part(args.negatives, part, args.cache, hashed))
    _note("the news-report case ...")
    case = news_report(args.negatives, args.cache, hashed)
    text = section(found, negative, case, time.perf_counter() - started, "python -m hashmatch_tools.evaluation.segments --negatives NEGATIVES --out docs/robustness.md")
    print(text)
    if args.out:
        write_section(text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
