"""Reference feature sets and queries for the second-stage benchmark (hashmatch_tools.bench.second_stage).

A reference set is the robustness suite's references (hashed as the hasher hashes a reference,
with their local features) plus filler: short "clips" of camera moves over corpus photographs,
one feature frame per second as a reference video has. Each clip picks a photograph, a
recolouring (channel gains, gamma, saturation), an optional mirror and a small rotation, a frame
size, then pans and zooms a window across the photograph; every frame is turned grey and goes
through the project's own extractor (local_features/orb.py). Filler comes in shards of
SHARD_FRAMES frames, each a fixed function of its number, cached as arrays, so that the sets are
nested (the first 1,000 frames of the 100,000 set are the 1,000 set) and reruns only load.

Photographs that make filler are never queries; the unrelated queries come from media that are
in no reference set (held-out photographs, the suite's colour-bar video and other negatives that show
no reference) and from pictures made up here.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

SHARD_FRAMES = 1000
FILLER_SEED = 20261205
# Photographs of the corpus that make filler; none of them is, or shows, a suite reference or a query.
FILLER_PHOTOS = tuple(
    f"images/debian-mate-nature/{name}.jpg"
    for name in ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "YellowFlower")
)
# Held out of the filler: they stand in for unrelated uploads (pictures, and pans made into videos).
UNRELATED_PHOTOS = tuple(f"images/debian-mate-nature/{name}.jpg" for name in ("Storm", "TwoWings", "Wood"))
# Frame sizes of the filler's "videos": SD to HD detail pictures (FEATURE_MAX_SIDE caps the side at 1024), one portrait.
FRAME_SIZES = ((640, 360), (854, 480), (720, 480), (1024, 576), (960, 540), (576, 1024))
CLIP_FRAMES = (8, 60)  # feature frames per clip: 8 s to a minute of video at one feature frame a second


# ---------------------------------------------------------------- filler


def _recolour(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Channel gains, a gamma and a saturation change: the grey picture ORB sees changes with each."""
    values = rgb.astype(np.float32) / 255.0
    values = values * rng.uniform(0.75, 1.25, 3).astype(np.float32)
    values = np.clip(values, 0.0, 1.0) ** np.float32(rng.uniform(0.7, 1.4))
    image = Image.fromarray((values * 255.0).astype(np.uint8))
    return np.asarray(ImageEnhance.Color(image).enhance(rng.uniform(0.3, 1.6)))


def _clip_frames(photo: np.ndarray, count: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Grey frames of one camera move over a photograph: a window panning and zooming, bouncing at the edges."""
    width, height = FRAME_SIZES[rng.integers(len(FRAME_SIZES))]
    # Scaled first (a clip's detail differs with the scale it was filmed at), which also makes the rest cheaper.
    image = Image.fromarray(photo)
    image = image.resize((round(image.width * (scale := rng.uniform(0.5, 1.0))), round(image.height * scale)), Image.Resampling.BILINEAR)
    image = Image.fromarray(_recolour(np.asarray(image), rng))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = rng.uniform(-8.0, 8.0)
    if abs(angle) > 1.0:
        image = image.rotate(angle, resample=Image.Resampling.BILINEAR)
    # The window stays inside the part the rotation leaves filled.
    inset = 0.5 * abs(np.sin(np.radians(angle))) * max(image.size)
    left_bound, top_bound = inset, inset
    right_bound, bottom_bound = image.width - inset, image.height - inset
    aspect = width / height
    room_w, room_h = right_bound - left_bound, bottom_bound - top_bound
    max_w = min(room_w, room_h * aspect)
    window_w = max_w * rng.uniform(0.3, 0.85)
    zoom = rng.uniform(0.97, 1.03)  # per frame
    x = rng.uniform(left_bound, right_bound - window_w)
    y = rng.uniform(top_bound, bottom_bound - window_w / aspect)
    speed = window_w * rng.uniform(0.02, 0.12)  # per frame (a second of video)
    direction = rng.uniform(0, 2 * np.pi)
    dx, dy = speed * np.cos(direction), speed * np.sin(direction)
    for _ in range(count):
        window_h = window_w / aspect
        grey = image.resize((width, height), Image.Resampling.BILINEAR, box=(x, y, x + window_w, y + window_h)).convert("L")
        yield np.asarray(grey)
        window_w = float(np.clip(window_w * zoom, 0.2 * max_w, max_w))
        window_h = window_w / aspect
        if not left_bound <= x + dx <= right_bound - window_w:
            dx = -dx
        if not top_bound <= y + dy <= bottom_bound - window_h:
            dy = -dy
        x = float(np.clip(x + dx, left_bound, right_bound - window_w))
        y = float(np.clip(y + dy, top_bound, bottom_bound - window_h))


def _load_photo(corpus: Path, relative: str) -> np.ndarray:
    with Image.open(corpus / relative) as image:
        return np.asarray(image.convert("RGB"))


def build_shard(corpus: Path, number: int) -> dict[str, np.ndarray]:
    """SHARD_FRAMES filler frames (whole clips, the last one cut short), as arrays; the same for the same number."""
    import cv2

    from hashmatch.matching.local_features.orb import extract

    cv2.setNumThreads(1)  # one worker per core
    rng = np.random.default_rng([FILLER_SEED, number])
    photos = {relative: _load_photo(corpus, relative) for relative in FILLER_PHOTOS}
    descriptors, points, counts, clips, timestamps, durations = [], [], [], [], [], []
    clip = 0
    while len(counts) < SHARD_FRAMES:
        length = int(rng.integers(CLIP_FRAMES[0], CLIP_FRAMES[1] + 1))
        length = min(length, SHARD_FRAMES - len(counts))
        photo = photos[FILLER_PHOTOS[rng.integers(len(FILLER_PHOTOS))]]
        for second, grey in enumerate(_clip_frames(photo, length, rng)):
            features = extract(grey)
            descriptors.append(features.descriptors)
            points.append(np.round(features.points).astype(np.uint16))
            counts.append(len(features))
            clips.append(clip)
            timestamps.append(float(second))
        durations.append(float(length))
        clip += 1
    return {
        "descriptors": np.concatenate(descriptors),
        "points": np.concatenate(points),
        "counts": np.asarray(counts, np.int32),
        "clips": np.asarray(clips, np.int32),
        "timestamps": np.asarray(timestamps, np.float32),
        "durations": np.asarray(durations, np.float32),
    }


def _shard_job(job: tuple[str, str, int]) -> str:
    corpus, path, number = job
    arrays = build_shard(Path(corpus), number)
    partial = path + ".partial.npz"
    np.savez(partial, **arrays)
    os.replace(partial, path)
    return path


def shard_path(cache: Path, number: int) -> Path:
    return cache / "filler" / f"shard-{number:04d}.npz"


def ensure_shards(corpus: Path, cache: Path, count: int, jobs: int = 2, log=sys.stderr) -> list[Path]:
    """The first `count` filler shards, built (in `jobs` processes) where not cached yet."""
    paths = [shard_path(cache, number) for number in range(count)]
    missing = [(str(corpus), str(path), number) for number, path in enumerate(paths) if not path.exists()]
    if missing:
        paths[0].parent.mkdir(parents=True, exist_ok=True)
        print(f"building {len(missing)} filler shard(s) of {SHARD_FRAMES} feature frames in {jobs} process(es) ...", file=log, flush=True)
        if jobs <= 1:
            for job in missing:
                _shard_job(job)
                print(f"  {job[1]}", file=log, flush=True)
        else:
            import multiprocessing

            with multiprocessing.get_context("spawn").Pool(jobs) as pool:
                for done, path in enumerate(pool.imap_unordered(_shard_job, missing), 1):
                    print(f"  [{done}/{len(missing)}] {path}", file=log, flush=True)
    return paths


# ---------------------------------------------------------------- reference sets


@dataclass
class ReferenceSet:
    """Reference feature frames as stacked arrays: frame f owns rows starts[f]:starts[f + 1]."""

    keys: list[str]  # the reference each frame belongs to
    timestamps: np.ndarray  # seconds, per frame
    spans: np.ndarray  # seconds each frame stands for, per frame
    durations: dict[str, float]  # per reference
    descriptors: np.ndarray  # N x 32 uint8
    points: np.ndarray  # N x 2 uint16 (rounded, as reference features are stored)
    counts: np.ndarray  # descriptors per frame

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def starts(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.counts, dtype=np.int64)))

    @property
    def nbytes(self) -> int:
        return int(self.descriptors.nbytes + self.points.nbytes)

    def features(self, frame: int):
        from hashmatch.model import LocalFeatures

        start, end = int(self.starts[frame]), int(self.starts[frame + 1])
        return LocalFeatures(self.points[start:end].astype(np.float32), self.descriptors[start:end])

    @classmethod
    def join(cls, parts: Sequence["ReferenceSet"]) -> "ReferenceSet":
        durations: dict[str, float] = {}
        for part in parts:
            durations.update(part.durations)
        return cls(
            [key for part in parts for key in part.keys],
            np.concatenate([p.timestamps for p in parts]),
            np.concatenate([p.spans for p in parts]),
            durations,
            np.concatenate([p.descriptors for p in parts]),
            np.concatenate([p.points for p in parts]),
            np.concatenate([p.counts for p in parts]),
        )

    def first(self, frames: int) -> "ReferenceSet":
        end = int(self.starts[frames])
        keys = self.keys[:frames]
        return ReferenceSet(keys, self.timestamps[:frames], self.spans[:frames], {k: self.durations[k] for k in set(keys)},
                            self.descriptors[:end], self.points[:end], self.counts[:frames])


def _save_set(path: Path, reference_set: ReferenceSet) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, descriptors=reference_set.descriptors, points=reference_set.points, counts=reference_set.counts,
             timestamps=reference_set.timestamps, spans=reference_set.spans,
             meta=np.frombuffer(json.dumps({"keys": reference_set.keys, "durations": reference_set.durations}).encode(), np.uint8))
    os.replace(partial, path)


def _load_set(path: Path) -> ReferenceSet:
    with np.load(path) as data:
        meta = json.loads(data["meta"].tobytes())
        return ReferenceSet(meta["keys"], data["timestamps"], data["spans"], meta["durations"], data["descriptors"], data["points"], data["counts"])


def _spans(timestamps: Sequence[float], duration: float) -> list[float]:
    """What each reference frame stands for, as LocalFeatureIndex.add works it out."""
    ordered = list(timestamps)
    return [max(0.0, (ordered[i + 1] if i + 1 < len(ordered) else max(duration, t)) - t) for i, t in enumerate(ordered)]


def target_set(suite: Path, entries: Sequence[dict], cache: Path, log=sys.stderr) -> ReferenceSet:
    """The suite's references, hashed as references (with their local features), cached."""
    path = cache / "targets.npz"
    if path.exists():
        return _load_set(path)
    from hashmatch_tools.matching import hash_reference

    keys, timestamps, spans, descriptors, points, counts, durations = [], [], [], [], [], [], {}
    for entry in entries:
        if entry["alteration"] != "reference":
            continue
        key = f"{entry['kind']}:{entry['content']}"
        print(f"  hashing reference {key}", file=log, flush=True)
        hashed = hash_reference(suite / entry["path"])
        frames = sorted((f for f in hashed.features if len(f.features)), key=lambda f: f.timestamp)
        durations[key] = float(hashed.duration)
        spans.extend(_spans([f.timestamp for f in frames], hashed.duration))
        for frame in frames:
            keys.append(key)
            timestamps.append(frame.timestamp)
            descriptors.append(frame.features.descriptors)
            points.append(np.round(frame.features.points).astype(np.uint16))
            counts.append(len(frame.features))
    result = ReferenceSet(keys, np.asarray(timestamps, np.float32), np.asarray(spans, np.float32), durations,
                          np.concatenate(descriptors), np.concatenate(points), np.asarray(counts, np.int32))
    _save_set(path, result)
    return result


def filler_set(corpus: Path, cache: Path, frames: int, jobs: int, log=sys.stderr) -> ReferenceSet:
    """The first `frames` filler frames (shards built where missing); each clip is a reference of its own."""
    count = -(-frames // SHARD_FRAMES)
    parts = []
    for number, path in enumerate(ensure_shards(corpus, cache, count, jobs, log)):
        with np.load(path) as data:
            clips, durations = data["clips"], data["durations"]
            keys = [f"filler:{number:04d}-{clip:03d}" for clip in clips]
            timestamps = data["timestamps"]
            spans = np.ones(len(clips), np.float32)  # one feature frame a second
            parts.append(ReferenceSet(keys, timestamps, spans, {f"filler:{number:04d}-{c:03d}": float(d) for c, d in enumerate(durations)},
                                      data["descriptors"], data["points"], data["counts"]))
    if not parts:
        return ReferenceSet([], np.zeros(0, np.float32), np.zeros(0, np.float32), {}, np.zeros((0, 32), np.uint8), np.zeros((0, 2), np.uint16), np.zeros(0, np.int32))
    return ReferenceSet.join(parts).first(frames)


# ---------------------------------------------------------------- queries


@dataclass
class Query:
    """One upload as the second stage sees it: the features of its detail pictures (16 at most for a video, 1 for a picture)."""

    name: str
    kind: str  # "image" or "video"
    content: str  # the reference key it shows, or "" for unrelated media
    alteration: str  # the suite's alteration name, or "unrelated"
    timestamps: list[float]
    counts: list[int]
    extract_seconds: float  # JPEG decode + local features of its detail pictures, as the stage does it
    descriptors: np.ndarray
    points: np.ndarray
    # The same pictures flipped left to right (the stage's mirror probes), in the same order.
    mirrored_counts: list[int]
    mirrored_descriptors: np.ndarray
    mirrored_points: np.ndarray

    def frames(self):
        return _frames(self.timestamps, self.counts, self.points, self.descriptors)

    def mirrored_frames(self):
        return _frames(self.timestamps, self.mirrored_counts, self.mirrored_points, self.mirrored_descriptors)


def _frames(timestamps: list[float], counts: list[int], points: np.ndarray, descriptors: np.ndarray):
    from hashmatch.model import FrameFeatures, LocalFeatures

    starts = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
    return [FrameFeatures(t, LocalFeatures(points[a:b], descriptors[a:b])) for t, a, b in zip(timestamps, starts[:-1], starts[1:])]


def _made_up_pictures(seed: int = 7) -> dict[str, np.ndarray]:
    """Pictures that exist nowhere: shapes and text, and a noise texture."""
    rng = np.random.default_rng(seed)
    shapes = Image.new("RGB", (1280, 720), (240, 236, 228))
    draw = ImageDraw.Draw(shapes)
    for _ in range(60):
        x, y = rng.integers(0, 1280), rng.integers(0, 720)
        w, h = rng.integers(20, 240), rng.integers(20, 200)
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=colour, outline=(0, 0, 0))
    for row in range(12):
        draw.text((40, 30 + 55 * row), f"unrelated upload {row}: " + "".join(chr(int(c)) for c in rng.integers(65, 91, 30)), fill=(10, 10, 10))
    noise = (np.kron(rng.random((90, 160)), np.ones((8, 8))) * 255).astype(np.uint8)
    return {"made-up-shapes-and-text": np.asarray(shapes), "made-up-blocks": np.stack([noise] * 3, axis=-1)}


def unrelated_media(corpus: Path, suite: Path, folder: Path) -> list[tuple[str, str, Path]]:
    """(name, kind, path) of media in no reference set, made into files where needed."""
    from hashmatch_tools.evaluation.suite import PAN_FPS, encode, pan

    folder.mkdir(parents=True, exist_ok=True)
    found = [
        ("colour-bars", "video", suite / "videos" / "negatives" / "colour-bars.mp4"),
        ("rgb-pan", "video", suite / "videos" / "negatives" / "rgb-pan.mp4"),
        ("rgb", "image", suite / "images" / "negatives" / "rgb.jpg"),
        ("labelme-q2821", "image", suite / "images" / "negatives" / "labelme-q2821.jpg"),
    ]
    for relative in UNRELATED_PHOTOS:
        name = Path(relative).stem.lower()
        photo = _load_photo(corpus, relative)
        picture, video = folder / f"{name}.jpg", folder / f"{name}-pan.mp4"
        if not picture.exists():
            Image.fromarray(photo).save(picture, "JPEG", quality=88)
        if not video.exists():
            encode(pan(photo), PAN_FPS, video)
        found += [(name, "image", picture), (f"{name}-pan", "video", video)]
    for name, rgb in _made_up_pictures().items():
        path = folder / f"{name}.jpg"
        if not path.exists():
            Image.fromarray(rgb).save(path, "JPEG", quality=88)
        found.append((name, "image", path))
    return [item for item in found if item[2].exists()]


def _encoded_pictures(path: Path) -> tuple[str, list]:
    """The upload's SHA-256 and its detail pictures as the hasher stores them (EncodedDetailPicture: JPEG at its quality, with the insets)."""
    from hashmatch.media.hashing import hash_media
    from hashmatch_tools.matching import detail_pictures_of

    upload = hash_media(path)
    return upload.sha256, list(detail_pictures_of(upload)())


def _query_of(name: str, kind: str, content: str, alteration: str, path: Path, pictures: list) -> Query:
    import time

    from hashmatch.matching.local_features.orb import features_of_detail_picture

    started = time.perf_counter()
    frames = [features_of_detail_picture(picture) for picture in pictures]
    seconds = time.perf_counter() - started
    mirrored = [features_of_detail_picture(picture, mirrored=True) for picture in pictures]
    empty = (np.zeros((0, 32), np.uint8), np.zeros((0, 2), np.float32))
    return Query(name, kind, content, alteration, [f.timestamp for f in frames], [len(f.features) for f in frames], seconds,
                 np.concatenate([f.features.descriptors for f in frames] or [empty[0]]),
                 np.concatenate([f.features.points for f in frames] or [empty[1]]),
                 [len(f.features) for f in mirrored],
                 np.concatenate([f.features.descriptors for f in mirrored] or [empty[0]]),
                 np.concatenate([f.features.points for f in mirrored] or [empty[1]]))


PICTURES_FILE = "query-detail-pictures-1.pickle"


def _save_pictures(cache: Path, pictures: dict[str, tuple[str, list]]) -> None:
    import pickle

    partial = cache / (PICTURES_FILE + ".partial")
    partial.write_bytes(pickle.dumps(pictures))
    os.replace(partial, cache / PICTURES_FILE)


def query_detail_pictures(corpus: Path, suite: Path, entries: Sequence[dict], cache: Path, log=sys.stderr) -> dict[str, tuple[str, list]]:
    """Each query's SHA-256 and detail pictures as the hasher stores them (by query name), for the whole path from the bucket:
    cached beside the queries' features (load_queries writes both), else hashed again here."""
    import pickle

    path = cache / PICTURES_FILE
    if path.exists():
        return pickle.loads(path.read_bytes())  # noqa: S301 - the bench's own cache
    wanted = [(e["path"], suite / e["path"]) for e in entries if e["alteration"] not in ("reference", "negative")]
    wanted += [(name, p) for name, _kind, p in unrelated_media(corpus, suite, cache / "unrelated")]
    pictures = {}
    for position, (name, source) in enumerate(wanted, 1):
        print(f"  [{position}/{len(wanted)}] detail pictures of {name}", file=log, flush=True)
        pictures[name] = _encoded_pictures(source)
    _save_pictures(cache, pictures)
    return pictures


def load_queries(corpus: Path, suite: Path, entries: Sequence[dict], cache: Path, log=sys.stderr) -> list[Query]:
    """The suite's altered copies and the unrelated media, hashed as uploads; their detail pictures' features, cached."""
    path = cache / "queries-3.npz"  # (queries.npz: before the mirrored pictures; queries-2.npz: before small detail pictures' quality 95)
    if path.exists():
        with np.load(path) as data:
            meta = json.loads(data["meta"].tobytes())
            descriptors, points = data["descriptors"], data["points"]
            mirrored_descriptors, mirrored_points = data["mirrored_descriptors"], data["mirrored_points"]
        queries, start, mirrored_start = [], 0, 0
        for item in meta:
            end, mirrored_end = start + sum(item["counts"]), mirrored_start + sum(item["mirrored_counts"])
            queries.append(Query(**item, descriptors=descriptors[start:end], points=points[start:end],
                                 mirrored_descriptors=mirrored_descriptors[mirrored_start:mirrored_end], mirrored_points=mirrored_points[mirrored_start:mirrored_end]))
            start, mirrored_start = end, mirrored_end
        return queries
    wanted = [(e["path"], e["kind"], f"{e['kind']}:{e['content']}", e["alteration"], suite / e["path"]) for e in entries if e["alteration"] not in ("reference", "negative")]
    wanted += [(name, kind, "", "unrelated", p) for name, kind, p in unrelated_media(corpus, suite, cache / "unrelated")]
    queries, pictures = [], {}
    for position, (name, kind, content, alteration, source) in enumerate(wanted, 1):
        print(f"  [{position}/{len(wanted)}] query {name}", file=log, flush=True)
        pictures[name] = _encoded_pictures(source)
        queries.append(_query_of(name, kind, content, alteration, source, pictures[name][1]))
    _save_pictures(cache, pictures)
    meta = [{k: getattr(q, k) for k in ("name", "kind", "content", "alteration", "timestamps", "counts", "extract_seconds", "mirrored_counts")} for q in queries]
    partial = cache / "queries.partial.npz"
    np.savez(partial, descriptors=np.concatenate([q.descriptors for q in queries]), points=np.concatenate([q.points for q in queries]),
             mirrored_descriptors=np.concatenate([q.mirrored_descriptors for q in queries]), mirrored_points=np.concatenate([q.mirrored_points for q in queries]),
             meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    os.replace(partial, path)
    return queries
