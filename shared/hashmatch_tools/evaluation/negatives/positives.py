"""Recall on references no threshold was tuned on: altered copies of the negative corpus's reference pictures and videos, through the pipeline.

The robustness suite (evaluation/suite.py) measures recall on the team corpus's 10 references, and
the thresholds (PDQ distance, MIN_INLIERS, the layout parts, the verdict's shares) were chosen on it.
The reference hash set of the negative corpus (references.py: >= 100,000 PDQ frames of game art and
textures from three Debian packages) was chosen on nothing. This takes a fixed, seeded sample of its
still pictures and videos (never the suite's own references, which it also holds), alters each with
the suite's alterations (alterations.py, by the suite's names), uploads every altered copy to
`UploadPipeline` over the hash set loaded as the false-positive evaluation loads it (the hash-set
snapshot and the local-feature snapshot, read as they are, never written), and counts:

- a hit: a match naming the reference the copy was made from, by the stage that decided it (PDQ of
  the whole frames, PDQ of layout parts, or local features);
- a wrong reference: a match naming only other references (not a hit, counted apart);
- held, or missed (passed).

Recall is given with its 95 % Wilson score interval, per alteration and overall.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import HashSetVersion
from hashmatch.matching.layouts import LayoutStage
from hashmatch.matching.matcher import Matcher
from hashmatch.vocabulary import Stage
from hashmatch_tools.evaluation import alterations as alter
from hashmatch_tools.evaluation import suite
from hashmatch_tools.evaluation.negatives.false_positives import CONFIDENCE, load_matcher
from hashmatch_tools.evaluation.negatives.references import FEATURES, HASH_SET, _hashed_paths, reference_jobs
from hashmatch_tools.evaluation.pipeline import Decision, DeployedSettings, UploadPipeline

SEED = 31  # issue 31, item 3
# 80 stills x 12 alterations (960 uploads) and 16 videos x 6 alterations (96): about 15-25 min on 2 shared cores. 80 per
# alteration bounds each picture alteration's recall within about +-11 points at worst (Wilson, 95 %), and 80 of 80 at
# >= 95.4 %; 960 picture uploads bound the overall picture recall within about +-3 points. A video costs about five
# pictures' time, so 16 per alteration (16 of 16: >= 80.6 %) and 96 in all (96 of 96: >= 96.2 %) is what the run affords.
STILLS, VIDEOS = 80, 16

# The suite's alterations by its names (suite.py), the hard ones among them: crops, a 2x2 collage, a split screen, an inset,
# a downscale, filmed off a screen, mirrored, a caption band, a logo, low JPEG quality, a turn.
PictureAlteration = Callable[[np.ndarray, list[np.ndarray]], np.ndarray]
PICTURE_ALTERATIONS: dict[str, PictureAlteration] = {
    "jpeg low quality": lambda rgb, others: suite.IMAGE_ALTERATIONS["jpeg low quality"](rgb),  # the alteration is the encoding (suite._save_image)
    "resize 50 %": lambda rgb, others: suite.IMAGE_ALTERATIONS["resize 50 %"](rgb),
    "crop 10 %": lambda rgb, others: suite.IMAGE_ALTERATIONS["crop 10 %"](rgb),
    "crop 20 %": lambda rgb, others: suite.STACKED_ALTERATIONS["crop 20 %"](rgb),
    "mirror": lambda rgb, others: suite.IMAGE_ALTERATIONS["mirror"](rgb),
    "caption band": lambda rgb, others: suite.IMAGE_ALTERATIONS["caption band"](rgb),
    "logo": lambda rgb, others: suite.IMAGE_ALTERATIONS["logo"](rgb),
    "rotate 7°": lambda rgb, others: suite.STACKED_ALTERATIONS["rotate 7°"](rgb),
    "filmed off screen": lambda rgb, others: alter.filmed_off_screen(rgb),
    "split screen": suite.COMPOSITE_ALTERATIONS["split screen"],
    "2x2 collage": suite.COMPOSITE_ALTERATIONS["2x2 collage"],
    "inset 40 %": suite.LAYOUT_ALTERATIONS["inset 40 %"],
}
VIDEO_ALTERATIONS = ("re-encode low bitrate", "crop 10 %", "clip inside longer video", "frame rate 12 fps", "mirror", "2x2 collage cover")


class Result(StrEnum):
    """What an altered copy of a reference came to."""

    HIT = "hit"  # matched, naming its own reference
    WRONG_REFERENCE = "wrong reference"  # matched, naming only other references
    HELD = "held"
    MISSED = "missed"  # passed


class MatchedBy(StrEnum):
    """The stage that decided a hit."""

    PDQ = "PDQ (whole frames)"
    LAYOUT = "PDQ of layout parts"
    LOCAL_FEATURES = "local features"


def sample_references(names: Sequence[str], stills: int, videos: int, seed: int = SEED) -> tuple[list[str], list[str]]:
    """A fixed sample of the hash set's still and video references (never the suite's): the same names for the same set and seed, whatever order the names come in."""
    still_names = sorted(name for name in names if name.startswith("still/"))
    video_names = sorted(name for name in names if name.startswith("video/"))
    chooser = random.Random(seed)
    return sorted(chooser.sample(still_names, min(stills, len(still_names)))), sorted(chooser.sample(video_names, min(videos, len(video_names))))


def classify(decision: Decision, named: Sequence[str], reference: str) -> Result:
    """A copy of `reference` is a hit only when the match names it; a match to others alone is a wrong reference."""
    if decision == Decision.MATCHED:
        return Result.HIT if reference in named else Result.WRONG_REFERENCE
    return Result.HELD if decision == Decision.HELD else Result.MISSED


def matched_by(signal: str, layout_stage_ran: bool) -> MatchedBy:
    """The stage behind a hit from its match entry's signal: PDQ is the whole frames' unless the layout stage ran (it runs only when they matched nothing)."""
    if signal == str(Stage.LOCAL_FEATURES):
        return MatchedBy.LOCAL_FEATURES
    return MatchedBy.LAYOUT if layout_stage_ran else MatchedBy.PDQ


def wilson_interval(hits: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval for a proportion seen `hits` times in `trials` (two-sided, at `confidence`)."""
    if trials <= 0:
        return 0.0, 1.0
    from statistics import NormalDist

    z = NormalDist().inv_cdf(1 - (1 - confidence) / 2)
    share = hits / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z / (1 + z * z / trials) * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Copy:
    """One altered copy of a reference, made for upload."""

    reference: str  # its key in the hash set
    kind: str  # "picture" or "video"
    alteration: str
    path: str


@dataclass(frozen=True)
class CopyRecord:
    copy: Copy
    decision: Decision
    result: Result
    matched_by: MatchedBy | None  # for a hit
    named: tuple[str, ...]  # every reference the match named
    evidence: tuple[str, ...]
    detail: str
    seconds: float
    own_distance: int | None = None  # the smallest PDQ distance of any upload frame (with its variants) to any frame of its own reference


def best_distance(upload_hashes: Sequence[Sequence[str]], reference_hashes: Sequence[str]) -> int | None:
    """The smallest Hamming distance between any of the upload frames' query hashes (hex) and any reference frame hash (hex); None when either has none."""
    reference = [int(value, 16) for value in reference_hashes]
    found = [(int(query, 16) ^ known).bit_count() for frame in upload_hashes for query in frame for known in reference]
    return min(found) if found else None


@dataclass
class Tally:
    """Results of one group of copies (an alteration, a kind, all)."""

    results: Counter = field(default_factory=Counter)
    by_stage: Counter = field(default_factory=Counter)

    def add(self, record: CopyRecord) -> None:
        self.results[record.result] += 1
        if record.matched_by is not None:
            self.by_stage[record.matched_by] += 1

    @property
    def copies(self) -> int:
        return sum(self.results.values())

    @property
    def hits(self) -> int:
        return self.results[Result.HIT]


class RecordingLayoutStage:
    """The matcher's layout stage, noting that it ran (the matcher runs it only when the whole frames' PDQ matched nothing)."""

    def __init__(self, inner: LayoutStage):
        self.inner, self.stage, self.threshold, self.ran = inner, inner.stage, inner.threshold, False

    def __len__(self) -> int:
        return len(self.inner)

    def find(self, upload, detail_pictures):
        self.ran = True
        return self.inner.find(upload, detail_pictures)


def load_pipeline(references: Path, settings: DeployedSettings) -> tuple[UploadPipeline, RecordingLayoutStage, HashSetSnapshot, object]:
    """The pipeline over the snapshots in `references` as the false-positive evaluation loads them (load_matcher), its layout stage recording when it runs."""
    version, snapshot, index = load_matcher(references / HASH_SET, references / FEATURES, settings.pdq_threshold)
    stages = list(version.matcher.stages)
    at = next(position for position, stage in enumerate(stages) if isinstance(stage, LayoutStage))
    layout = RecordingLayoutStage(stages[at])
    stages[at] = layout
    matcher = Matcher(version.matcher.durations, stages)
    return UploadPipeline(HashSetVersion(HashSetView(snapshot), matcher, 1), settings), layout, snapshot, index


def _fillers(team_corpus: Path) -> list[np.ndarray]:
    """The suite's unrelated photographs for composites (suite.COMPOSITE_FILLERS: no reference of either set)."""
    return [suite._load_photo(team_corpus, relative) for relative in suite.COMPOSITE_FILLERS]


def _picture(path: Path) -> np.ndarray:
    return suite._load_photo(path.parent, path.name)


def make_copies(sources: dict[str, Path], stills: list[str], videos: list[str], work: Path, team_corpus: Path, log=sys.stderr) -> tuple[list[Copy], int]:
    """Every altered copy of the sampled references, and how many were made now: made in `work` when not made yet (by reference and alteration, so a rerun reuses them)."""
    fillers = _fillers(team_corpus)
    copies, made = [], 0
    for name in stills:
        photo = _picture(sources[name])
        for alteration, function in PICTURE_ALTERATIONS.items():
            path = suite._image_path(work / "pictures" / name.replace("/", "-") / suite._slug(alteration), alteration)
            made += suite.make_whole(path, lambda p, f=function, a=alteration: suite._save_image(f(photo, fillers), p, a))  # the partial name keeps the suffix _save_image gives
            copies.append(Copy(name, "picture", alteration, str(path)))
    filler_pan = suite.pan(suite._load_photo(team_corpus, suite.VIDEO_NEGATIVE_PANS["rgb-pan"]), seconds=3.0)
    for number, name in enumerate(videos, 1):
        print(f"positives: making the copies of {name} ({number} of {len(videos)})", file=log, flush=True)
        frames, fps = suite.decode(sources[name])
        height, width = frames[0].shape[:2]
        filler = [np.asarray(suite.Image.fromarray(f).resize((width // 2 * 2, height // 2 * 2))) for f in filler_pan]
        makers: dict[str, Callable[[Path], None]] = {
            "re-encode low bitrate": lambda p: suite.encode(frames, fps, p, bit_rate=150_000),
            "crop 10 %": lambda p: suite.encode([alter.crop(f, 0.10) for f in frames], fps, p),
            "clip inside longer video": lambda p: suite.encode(filler[: len(filler) // 2] + frames[: len(frames) // 2] + filler[len(filler) // 2 :], fps, p),
            "frame rate 12 fps": lambda p: suite.encode([frames[int(i * fps / 12)] for i in range(int(len(frames) * 12 / fps))], 12, p),
            "mirror": lambda p: suite.encode([alter.mirror(f) for f in frames], fps, p),
            "2x2 collage cover": lambda p: suite.encode([suite.LAYOUT_ALTERATIONS["2x2 collage cover"](f, fillers) for f in frames], fps, p),
        }
        for alteration in VIDEO_ALTERATIONS:
            path = work / "videos" / name.replace("/", "-") / f"{suite._slug(alteration)}.mp4"
            made += suite.make_whole(path, makers[alteration])
            copies.append(Copy(name, "video", alteration, str(path)))
    return copies, made


def reference_hashes(folder: Path, name: str) -> list[str]:
    """A reference's PDQ frame hashes as references.py keeps them in the cache (read, never written)."""
    hashes_path, _features = _hashed_paths(folder, name)
    return [frame["pdq"] for frame in json.loads(hashes_path.read_text())["frames"]]


def decide(pipeline: UploadPipeline, layout: RecordingLayoutStage, copy: Copy, own: Sequence[str] = ()) -> CopyRecord:
    """One copy through the pipeline, classified against the reference it was made from (`own`: that reference's PDQ frames, for the distance a miss was at)."""
    layout.ran = False
    outcome = pipeline.decide(Path(copy.path).read_bytes(), Path(copy.path).name)
    result = classify(outcome.decision, outcome.references, copy.reference)
    stage = None
    if result == Result.HIT:
        signal = outcome.signals[outcome.references.index(copy.reference)] if outcome.signals else str(Stage.PDQ)
        stage = matched_by(signal, layout.ran)
    usable = outcome.hashes.usable_frames if outcome.hashes is not None else []
    distance = best_distance([frame.query_hashes for frame in usable], own)
    return CopyRecord(copy, outcome.decision, result, stage, outcome.references, outcome.evidence, outcome.detail, outcome.seconds, distance)


def reference_sources(folder: Path) -> dict[str, str]:
    """What each still and video reference was made from, by its key: the picture's place in its package (the last two parts of its path), a video's pictures joined by +."""
    from hashmatch_tools.evaluation.negatives.build import video_jobs
    from hashmatch_tools.evaluation.negatives.corpus import read_manifest

    rows = read_manifest(folder / "pictures.csv")
    place = {row["sha256"][:16]: "/".join(Path(row["source_path"].replace("!/", "/")).parts[-2:]) for row in rows}
    described = {f"still/{row['sha256'][:16]}": place[row["sha256"][:16]] for row in rows if row["split"] == "reference" and row["use"] == "still"}
    for _recipe, row in video_jobs(folder, rows):
        if row["split"] == "reference":
            described[f"video/{Path(row['path']).stem}"] = " + ".join(place[sha] for sha in row["pictures"].split())
    return described


def _commit() -> str:
    root = Path(__file__).resolve().parents[4]
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (with uncommitted changes)" if dirty else "")


def run(folder: Path, args: argparse.Namespace) -> int:
    started = time.perf_counter()
    references = folder / "references"
    listed = references / "snapshot-references.json"
    # The snapshots are read as they are: hashing the set again takes hours, so this never writes them (false_positives.run
    # writes them when the references it is given differ from those listed; here they are whatever is listed).
    if not all(path.exists() for path in (listed, references / HASH_SET, references / FEATURES)):
        print(f"positives: no reference hash set in {references} (make evaluate-negatives builds it)", file=sys.stderr)
        return 2
    names = json.loads(listed.read_text())
    stills, videos = sample_references(names, args.stills, args.videos, args.seed)
    if args.limit is not None:
        stills, videos = stills[: args.limit], videos[: args.limit]
    always, reference_videos = reference_jobs(folder, None)
    sources = {job.name: Path(job.path) for job in always + reference_videos}
    missing = [name for name in stills + videos if not sources.get(name, Path("/nonexistent")).exists()]
    if missing:
        print(f"positives: the media of {len(missing)} sampled references is missing ({', '.join(missing[:5])}): the corpus in {folder} is not the one hashed", file=sys.stderr)
        return 2
    copies, made_now = make_copies(sources, stills, videos, args.work, args.team_corpus)
    made = time.perf_counter()
    settings = DeployedSettings.of_template()
    pipeline, layout, snapshot, index = load_pipeline(references, settings)
    loaded = time.perf_counter()
    print(f"positives: {len(copies)} copies of {len(stills)} stills and {len(videos)} videos made ({made - started:.0f} s), hash set loaded ({loaded - made:.0f} s)", file=sys.stderr, flush=True)
    records = []
    # Pictures and videos mixed evenly, so that the counts printed as it goes cover both kinds.
    per_kind, seen, position_in_kind = Counter(c.kind for c in copies), Counter(), []
    for copy in copies:
        position_in_kind.append(seen[copy.kind] / per_kind[copy.kind])
        seen[copy.kind] += 1
    order = sorted(range(len(copies)), key=lambda n: (position_in_kind[n], n))
    for number, position in enumerate(order, 1):
        records.append(decide(pipeline, layout, copies[position], reference_hashes(folder, copies[position].reference)))
        if number % 50 == 0:
            hits = sum(r.result == Result.HIT for r in records)
            print(f"positives: {number} of {len(copies)} copies decided, {hits} hits ({time.perf_counter() - loaded:.0f} s)", file=sys.stderr, flush=True)
    finished = time.perf_counter()
    command = f"python -m hashmatch_tools.evaluation.negatives --folder {args.folder} positives --stills {args.stills} --videos {args.videos} --seed {args.seed}" + (
        f" --limit {args.limit}" if args.limit is not None else ""
    )
    making = "making the copies" if made_now == len(copies) else f"making the copies ({made_now} of {len(copies)} made in this run, the rest read from an earlier run's, kept in {args.work.name}/)"
    text = report(
        records, snapshot, index, names, stills, videos, args.seed, command,
        {making: made - started, "loading the hash set": loaded - made, "the uploads": finished - loaded}, args.work, reference_sources(folder),
    )
    print(text)
    for line in summary_lines(records):
        print(line, file=sys.stderr)
    if args.out is not None:
        args.out.write_text(text)
    return 0


def _recall(tally: Tally) -> str:
    if not tally.copies:
        return "-"
    low, high = wilson_interval(tally.hits, tally.copies)
    return f"{tally.hits / tally.copies:.1%} ({tally.hits}/{tally.copies}; {low:.1%}-{high:.1%})"


def _total(records: Sequence[CopyRecord]) -> Tally:
    tally = Tally()
    for record in records:
        tally.add(record)
    return tally


def summary_lines(records: Sequence[CopyRecord]) -> list[str]:
    """The figures a reader quotes: recall overall and per kind, by stage, and the wrong-reference matches."""
    lines = []
    for label, chosen in (("all copies", records), ("pictures", [r for r in records if r.copy.kind == "picture"]), ("videos", [r for r in records if r.copy.kind == "video"])):
        tally = _total(chosen)
        stages = ", ".join(f"{stage}: {tally.by_stage[stage]}" for stage in MatchedBy)
        lines.append(
            f"positives: {label}: recall {_recall(tally)} [95 % Wilson]; hits by {stages}; wrong reference {tally.results[Result.WRONG_REFERENCE]}, "
            f"held {tally.results[Result.HELD]}, missed {tally.results[Result.MISSED]}"
        )
    return lines


def report(
    records: Sequence[CopyRecord], snapshot: HashSetSnapshot, index, names: Sequence[str], stills: Sequence[str], videos: Sequence[str], seed: int, command: str,
    seconds: dict[str, float], folder: Path | None = None, sources: dict[str, str] | None = None,
) -> str:
    """The Markdown report (docs/positives.md); copies are named by their path in the `folder` they were made in."""

    def named(path: str) -> str:
        return str(Path(path).relative_to(folder)) if folder is not None and Path(path).is_relative_to(folder) else path

    media = snapshot.media()
    kinds = Counter(str(item.kind) for item in media)
    stage_columns = " | ".join(f"hits by {stage}" for stage in MatchedBy)
    lines = [
        "# Recall on references no threshold was tuned on",
        "",
        f"Generated {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} at commit {_commit()} on {platform.node()} ({platform.machine()}, "
        f"{__import__('os').cpu_count()} cores shared with other sessions' runs, Python {platform.python_version()}), with `{command}`, in one process: "
        + ", ".join(f"{value / 60:.1f} min {label}" for label, value in seconds.items()) + ".",
        "",
        "The thresholds (PDQ distance, the local features' MIN_INLIERS, the layout parts, the verdict's shares) were chosen on the robustness suite "
        "(docs/robustness.md). This measures recall on the negative corpus's reference hash set instead (docs/negative-corpus.md: game art and textures "
        "of megaglest-data, nexuiz-textures and redeclipse-data), on which nothing was chosen: a seeded sample of its still pictures and reference videos "
        "(never the suite's references it also holds), each altered with the suite's alterations (shared/hashmatch_tools/evaluation/alterations.py, by "
        "suite.py's names; composites take the suite's unrelated photographs), every copy uploaded to the pipeline (evaluation/pipeline.py: the hasher's "
        "and the matcher's use cases, deployed settings) over the whole hash set, loaded from its snapshots as the false-positive evaluation loads it. "
        "A **hit** is a match naming the reference the copy was made from; a match naming only other references is a **wrong reference**, not a hit. "
        "Each hit is put to the stage that decided it: PDQ of the whole frames (the first stage), PDQ of layout parts (matching/layouts.py, which runs "
        "only when the first matched nothing), or local features (the second stage, ORB and a homography, which runs only when both matched nothing). "
        "Intervals are 95 % Wilson score intervals. For the misses, the last column gives how far PDQ was: the smallest distance of any of the copy's "
        f"frames (with the variants it is searched with) to any frame of its own reference, against the threshold of {DeployedSettings.of_template().pdq_threshold} bits. "
        "The code is shared/hashmatch_tools/evaluation/negatives/positives.py.",
        "",
        f"Hash set: {len(media)} references ({', '.join(f'{count} {kind}' for kind, count in sorted(kinds.items()))}), {len(snapshot.frames):,} PDQ frames, "
        f"{len(index):,} local-feature frames. Sample (seed {seed}): {len(stills)} of {sum(n.startswith('still/') for n in names)} still references, "
        f"{len(videos)} of {sum(n.startswith('video/') for n in names)} reference videos.",
        "",
    ]
    for kind, label in (("picture", "Pictures"), ("video", "Videos")):
        chosen = [r for r in records if r.copy.kind == kind]
        if not chosen:
            continue
        lines += [
            f"## {label}", "",
            f"| alteration | copies | recall (95 % interval) | {stage_columns} | wrong reference | held | missed | misses' best PDQ distance to their own reference (median; bits) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        groups = {}
        for record in chosen:
            groups.setdefault(record.copy.alteration, []).append(record)
        groups["**all**"] = chosen
        for alteration, group in groups.items():
            tally = _total(group)
            missed = [r.own_distance for r in group if r.result == Result.MISSED and r.own_distance is not None]
            lines.append(
                f"| {alteration} | {tally.copies} | {_recall(tally)} | " + " | ".join(str(tally.by_stage[stage]) for stage in MatchedBy)
                + f" | {tally.results[Result.WRONG_REFERENCE]} | {tally.results[Result.HELD]} | {tally.results[Result.MISSED]} | {f'{statistics.median(missed):g}' if missed else '-'} |"
            )
        lines.append("")
    lines += ["## Summary", ""] + [f"- {line.removeprefix('positives: ')}" for line in summary_lines(records)] + [""]
    also = [r for r in records if r.result == Result.HIT and len(r.named) > 1]
    lines.append(f"Hits whose match also named other references: {len(also)}. Each wrong reference, with what the references were made from (the picture's place in its package; a video's pictures):")
    lines.append("")
    sources = sources or {}

    def made_from(name: str) -> str:
        return f" [{sources[name]}]" if name in sources else ""

    for record in records:
        if record.result == Result.WRONG_REFERENCE:
            lines.append(
                f"- wrong reference: {named(record.copy.path)} (a copy of {record.copy.reference}{made_from(record.copy.reference)}, {record.copy.alteration}) -> "
                + "; ".join(f"{evidence}{made_from(name)}" for name, evidence in zip(record.named, record.evidence or record.named))
            )
    for record in records:
        if record.result == Result.HELD:
            lines.append(f"- held: {named(record.copy.path)}: {record.detail}")
    for record in records:
        if record.result == Result.MISSED and record.copy.kind == "video":
            lines.append(f"- missed video: {record.copy.reference}, {record.copy.alteration}" + (f": {record.detail}" if record.detail else ""))
    return "\n".join(lines) + "\n"
