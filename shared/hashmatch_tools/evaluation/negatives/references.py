"""The reference hash set the negatives are matched against: at least the asked-for number of PDQ frames, with their local features.

It holds the robustness suite's references (the team corpus's known pictures and videos), the
reference packages' still pictures, and reference videos made from the reference packages' other
pictures (videos.py), in a fixed order until the set holds the asked-for number of PDQ frames.
Each is hashed as a reference is (hash_reference: every frame, PDQ at full size, near-duplicate
frames dropped, local features once a second) and kept in the cache (references/hashed/), so a
rerun hashes only what is new. The set is then written as the stack writes it, a hash-set snapshot
(HashSetSnapshot) and a local-feature snapshot (LocalFeatureIndex.save), and the evaluation loads
both as a matcher does.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

from hashmatch.hash_set.snapshot import HashSetSnapshot
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.model import MediaHashes, feature_frames_from_bytes, feature_frames_to_bytes
from hashmatch_tools.evaluation.negatives.build import video_jobs
from hashmatch_tools.evaluation.negatives.corpus import read_manifest
from hashmatch_tools.evaluation.negatives.packages import Part
from hashmatch_tools.evaluation.negatives.videos import encode

HASH_SET = "hash-set.snapshot"
FEATURES = "features.snapshot"


@dataclass(frozen=True)
class ReferenceJob:
    name: str  # the reference's key in the hash set
    path: str  # its media
    recipe: object | None = None  # a reference video's recipe, made first when the file is missing


def _hashed_paths(folder: Path, name: str) -> tuple[Path, Path]:
    safe = name.replace("/", "__")
    return folder / "references" / "hashed" / f"{safe}.json", folder / "references" / "hashed" / f"{safe}.features"


def _hash_one(job_and_folder: tuple[ReferenceJob, str]) -> tuple[str, int, float]:
    """Make (if needed) and hash one reference, keeping its hashes and features in the cache; returns its usable frames and the seconds spent."""
    from hashmatch_tools.matching import hash_reference

    job, folder = job_and_folder
    hashes_path, features_path = _hashed_paths(Path(folder), job.name)
    if hashes_path.exists():
        return job.name, len(MediaHashes.from_dict(json.loads(hashes_path.read_text())).usable_frames), 0.0
    started = time.perf_counter()
    media = Path(job.path)
    if job.recipe is not None and not media.exists():
        partial = media.with_name(media.name + ".partial")
        encode(job.recipe, partial)
        partial.rename(media)
    hashes = hash_reference(media)
    hashes_path.parent.mkdir(parents=True, exist_ok=True)
    features_path.write_bytes(feature_frames_to_bytes(list(hashes.features)))
    hashes_path.write_text(json.dumps(hashes.to_dict(with_variants=False, with_features=False)))
    return job.name, len(hashes.usable_frames), time.perf_counter() - started


def reference_jobs(folder: Path, robustness_suite: Path | None) -> tuple[list[ReferenceJob], list[ReferenceJob]]:
    """The references every set holds (the suite's references and the still reference pictures), and the reference videos in the order they are taken."""
    always = []
    if robustness_suite is not None:
        for entry in json.loads((robustness_suite / "manifest.json").read_text()):
            if entry["alteration"] == "reference":
                always.append(ReferenceJob(f"suite/{entry['kind']}/{entry['content']}", str(robustness_suite / entry["path"])))
    pictures = read_manifest(folder / "pictures.csv")
    always += [ReferenceJob(f"still/{row['sha256'][:16]}", str(folder / row["path"])) for row in pictures if row["split"] == Part.REFERENCE and row["use"] == "still"]
    videos = [ReferenceJob(f"video/{Path(row['path']).stem}", str(folder / row["path"]), recipe) for recipe, row in video_jobs(folder, pictures) if row["split"] == Part.REFERENCE]
    return always, videos


@dataclass
class ReferenceSet:
    names: list[str]
    frames: int  # usable PDQ frames
    hashing_seconds: float  # spent in this run making and hashing what was not cached


def hash_references(folder: Path, target_frames: int, robustness_suite: Path | None, processes: int) -> ReferenceSet:
    """Hash the references in order until the set holds `target_frames` usable PDQ frames (cached ones are read, not hashed again)."""
    always, videos = reference_jobs(folder, robustness_suite)
    (folder / "videos" / str(Part.REFERENCE)).mkdir(parents=True, exist_ok=True)
    names, frames, seconds = [], 0, 0.0
    with Pool(processes) as workers:
        for name, count, spent in workers.imap(_hash_one, [(job, str(folder)) for job in always], chunksize=8):
            names.append(name)
            frames += count
            seconds += spent
        print(f"negatives: {len(names)} still and suite references, {frames} frames", file=sys.stderr, flush=True)
        started = time.perf_counter()
        for name, count, spent in workers.imap(_hash_one, [(job, str(folder)) for job in videos]):
            if frames >= target_frames:
                break
            names.append(name)
            frames += count
            seconds += spent
            if len(names) % 20 == 0:
                print(f"negatives: {len(names)} references, {frames} of {target_frames} frames ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        workers.terminate()
    if frames < target_frames:
        print(f"negatives: only {frames} reference frames: the reference pictures ran out before {target_frames}", file=sys.stderr, flush=True)
    return ReferenceSet(names, frames, seconds)


def write_snapshots(folder: Path, references: ReferenceSet) -> tuple[Path, Path]:
    """The hash-set snapshot and the local-feature snapshot of these references (written again only when the references changed)."""
    out = folder / "references"
    listed = out / "snapshot-references.json"
    if listed.exists() and json.loads(listed.read_text()) == references.names and (out / HASH_SET).exists() and (out / FEATURES).exists():
        return out / HASH_SET, out / FEATURES
    media, index = {}, LocalFeatureIndex()
    for name in references.names:
        hashes_path, features_path = _hashed_paths(folder, name)
        hashes = MediaHashes.from_dict(json.loads(hashes_path.read_text()))
        media[name] = hashes
        index.add(name, [(frame.timestamp, frame.features) for frame in feature_frames_from_bytes(features_path.read_bytes())], hashes.duration)
    HashSetSnapshot.build(media=media).write(out / HASH_SET)
    with (out / FEATURES).open("wb") as written:
        index.save(written, {"references": references.names})
    listed.write_text(json.dumps(references.names))
    return out / HASH_SET, out / FEATURES
