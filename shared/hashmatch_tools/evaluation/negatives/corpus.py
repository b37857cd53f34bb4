"""The negative pictures: taken out of the Debian packages, filtered to what a person would upload, de-duplicated, split, and written with a manifest.

Each candidate picture is decoded as the hasher decodes an upload (EXIF orientation applied, alpha
dropped, a box filter down to 512 px) and kept only when it is a picture someone might upload:
at least MIN_SIDE pixels a side, no strip, at most MAX_TRANSPARENT of it transparent (with the
alpha dropped such pictures hash as what lies under it: sprites and clip-art turn into noise),
PDQ quality at least PDQ_MIN_QUALITY (the matcher ignores frames below it), not a normal map
(per-pixel vectors, not a picture), with at least MIN_GREY_LEVELS grey levels (masks and line art
are not), and at most a package's per-folder cap of an image sequence.

Near-duplicates are dropped in a fixed order (the packages' order, then the larger picture, then
the SHA-256): first identical files, then any picture whose eight mirrored and rotated PDQ hashes
come within the PDQ match threshold of a picture kept before it, or of any hash of the team corpus
(its pictures, and every PDQ hash in its hash lists), which holds the robustness suite's references.
So no two pictures of the corpus, a negative or a reference picture, are PDQ-copies of each other.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import warnings
from collections import Counter
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pdqhash
from PIL import Image, ImageOps

from hashmatch.media.pixels import displayable, shrink
from hashmatch.media.sampling import PICTURE_MAX_SIDE
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD, PDQ_MIN_QUALITY
from hashmatch_tools.evaluation.negatives.debian import COPYRIGHT, PICTURE_SUFFIXES, Fetched, licence_summary, pictures
from hashmatch_tools.evaluation.negatives.packages import TUNING_PERCENT, Package, Part

MIN_SIDE = 128
MAX_ASPECT = 4.0  # the longer side at most four times the shorter
MAX_TRANSPARENT = 0.02
MIN_GREY_LEVELS = 24  # grey levels each covering at least 1/2000 of the picture
# Of the negative pictures, this share (by SHA-256) is kept for making videos, the rest uploaded as pictures:
# a picture is in a video or a still, never both. Videos hold 1-3 pictures, 2 on average (videos.py), so a
# part of N pictures gives about 0.75 N stills and 0.125 N videos.
VIDEO_SOURCE_PERCENT = 25
# Of the reference pictures, this share is kept as still references, the rest made into reference videos.
STILL_REFERENCE_PERCENT = 25

MANIFEST_FIELDS = (
    "path", "package", "version", "licence", "category", "split", "use", "width", "height", "format", "bytes", "sha256", "pdq", "pdq_quality", "source_path",
    "withheld",  # why the picture is no negative (independence.py), or empty
)
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "BMP": "bmp", "GIF": "gif", "TGA": "tga", "TIFF": "tif", "PPM": "ppm"}


@dataclass
class Candidate:
    """One picture member of a package, analysed: its hashes, or why it is not taken."""

    source_path: str
    sha256: str
    size: int
    format: str = ""
    width: int = 0
    height: int = 0
    quality: int = 0
    dihedral: tuple[str, ...] = ()  # PDQ of the picture, then of its seven mirrored and rotated versions
    reject: str = ""

    @property
    def pdq(self) -> str:
        return self.dihedral[0]


def analyse(item: tuple[str, bytes]) -> Candidate:
    """Decode and hash one picture member as the hasher would, or say why it is not a negative (runs in worker processes)."""
    path, data = item
    found = Candidate(path, hashlib.sha256(data).hexdigest(), len(data))
    warnings.simplefilter("ignore")  # Pillow's warnings on odd files: those files are judged by the rules below
    try:
        with Image.open(io.BytesIO(data)) as image:
            found.format, (found.width, found.height) = image.format or "", image.size
            if min(image.size) < MIN_SIDE:
                return _rejected(found, "small")
            if max(image.size) > MAX_ASPECT * min(image.size):
                return _rejected(found, "strip")
            if image.format == "JPEG":
                # Decoded at a half to an eighth of its size (JPEG's own scaling): the hash is taken at 512 px,
                # and a full decode of a 6000 x 4000 photograph costs more than everything else here.
                image.draft("RGB", (2 * PICTURE_MAX_SIDE, 2 * PICTURE_MAX_SIDE))
            upright = ImageOps.exif_transpose(image)
            if upright.size != image.size and upright.size[0] == image.size[1]:
                found.width, found.height = found.height, found.width
            if upright.mode == "P" and "transparency" in upright.info:
                upright = upright.convert("RGBA")
            if upright.mode in ("RGBA", "LA", "PA"):
                alpha = np.asarray(upright.getchannel("A").resize((64, 64), Image.Resampling.BOX))
                if float((alpha < 250).mean()) > MAX_TRANSPARENT:
                    return _rejected(found, "transparent")
            rgb = np.ascontiguousarray(np.asarray(shrink(displayable(upright), PICTURE_MAX_SIDE).convert("RGB"), dtype=np.uint8))
    except Exception as error:  # noqa: BLE001 - a member Pillow cannot read is no negative, whatever the error
        return _rejected(found, f"undecodable: {type(error).__name__}")
    sample = rgb[::2, ::2].reshape(-1, 3).astype(np.float32)
    if _normal_map(sample):
        return _rejected(found, "normal map")
    grey = (sample @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)
    if np.count_nonzero(np.bincount(grey, minlength=256) >= max(2, grey.size // 2000)) < MIN_GREY_LEVELS:
        return _rejected(found, "few grey levels")
    hashes, quality = pdqhash.compute_dihedral(rgb)
    found.quality = int(quality)
    if quality < PDQ_MIN_QUALITY:
        return _rejected(found, "low PDQ quality")
    found.dihedral = tuple(np.packbits(bits.astype(np.uint8)).tobytes().hex() for bits in hashes)
    return found


def _rejected(found: Candidate, reason: str) -> Candidate:
    found.reject = reason
    return found


def _normal_map(pixels: np.ndarray) -> bool:
    """A tangent-space normal map: every pixel a unit vector (x, y, z) as RGB, z towards the viewer, so blue dominates."""
    red, green, blue = (float(v) for v in pixels.mean(axis=0))
    off_unit = float(np.median(np.abs(np.sqrt(((pixels / 127.5 - 1) ** 2).sum(axis=1)) - 1)))
    return off_unit < 0.04 and blue > 150 and blue > max(red, green) + 20


def words(hexes: Iterable[str]) -> np.ndarray:
    """PDQ hashes (hex) as rows of four 64-bit words, for XOR and bit counts."""
    joined = b"".join(bytes.fromhex(h) for h in hexes)
    return np.frombuffer(joined, dtype=">u8").astype(np.uint64).reshape(-1, 4)


class NearDuplicates:
    """The PDQ hashes kept so far (and the excluded ones): is a picture within the match threshold of any, in any orientation?"""

    def __init__(self, excluded: Iterable[str] = (), threshold: int = PDQ_CONFIDENT_MATCH_THRESHOLD):
        self.threshold = threshold
        self.excluded = words(sorted(set(excluded)))
        self._kept = np.zeros((1024, 4), np.uint64)
        self.count = 0

    def _near(self, rows: np.ndarray, dihedral: np.ndarray) -> bool:
        return bool(len(rows)) and int(np.bitwise_count(rows[:, None, :] ^ dihedral[None, :, :]).sum(axis=2).min()) <= self.threshold

    def excludes(self, candidate: Candidate) -> bool:
        return self._near(self.excluded, words(candidate.dihedral))

    def repeats(self, candidate: Candidate) -> bool:
        return self._near(self._kept[: self.count], words(candidate.dihedral))

    def keep(self, candidate: Candidate) -> None:
        if self.count == len(self._kept):
            self._kept = np.concatenate([self._kept, np.zeros_like(self._kept)])
        self._kept[self.count] = words(candidate.dihedral[:1])[0]
        self.count += 1


def excluded_hashes(folder: Path) -> list[str]:
    """Every PDQ hash of the team corpus: its pictures in all eight orientations, whatever their size or quality,
    and each 64-digit hex string of its text files (hash lists, expected hashes, vPDQ frame lists)."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*")):
        if not path.is_file():
            continue
        suffix = path.suffix.lower().lstrip(".")
        if suffix in PICTURE_SUFFIXES:
            try:
                with Image.open(path) as image:
                    rgb = np.ascontiguousarray(np.asarray(shrink(displayable(ImageOps.exif_transpose(image)), PICTURE_MAX_SIDE).convert("RGB"), dtype=np.uint8))
            except Exception:  # noqa: BLE001 - a file Pillow cannot read has no picture hash to exclude
                continue
            hashes, _quality = pdqhash.compute_dihedral(rgb)
            found.update(np.packbits(bits.astype(np.uint8)).tobytes().hex() for bits in hashes)
        elif suffix in ("csv", "txt", "dat", "md", "json", "tsv"):
            found.update(re.findall(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", path.read_text(errors="ignore").lower()))
    return sorted(found)


def _share(sha256: str, start: int) -> int:
    """A number 0-99 from eight hex digits of the SHA-256 (different digits for different choices: independent)."""
    return int(sha256[start : start + 8], 16) % 100


def split_of(package: Package, sha256: str) -> str:
    if package.part == Part.BY_CONTENT:
        return str(Part.TUNING if _share(sha256, 0) < TUNING_PERCENT else Part.EVALUATION)
    return str(package.part)


def use_of(package: Package, sha256: str) -> str:
    """still (uploaded as a picture) or video (a negative video's picture); for a reference package, still or video reference."""
    if package.part == Part.REFERENCE:
        return "still" if _share(sha256, 8) < STILL_REFERENCE_PERCENT else "video"
    return "video" if _share(sha256, 8) < VIDEO_SOURCE_PERCENT else "still"


@dataclass
class PackageReport:
    """What became of one package's picture members (counts by outcome)."""

    name: str
    version: str
    licence: str
    outcomes: Counter


def candidates_of(fetched: Fetched, skipped_folders: re.Pattern, workers: Pool) -> tuple[list[tuple[Candidate, bytes]], str, Counter]:
    """The package's pictures that pass the filters (with their bytes), its copyright file, and the count of each outcome."""
    package = fetched.package
    include = re.compile(package.include) if package.include else None
    copyright_text = ""
    outcomes: Counter = Counter()

    def members() -> Iterator[tuple[str, bytes]]:
        nonlocal copyright_text
        for path, data in pictures(fetched.path, package.name):
            if path == COPYRIGHT:
                copyright_text = data.decode("utf-8", "replace")
                continue
            outer = path.split("!/")[0]
            if (include is not None and not include.search(outer)) or (include is None and skipped_folders.search(outer)):
                continue
            outcomes["pictures"] += 1
            yield path, data

    items = list(members())
    passed: list[tuple[Candidate, bytes]] = []
    per_folder: Counter = Counter()
    for (path, data), candidate in zip(items, workers.map(analyse, items, chunksize=16)):
        if candidate.reject:
            outcomes[f"rejected: {candidate.reject.split(':')[0]}"] += 1
            continue
        if package.per_folder is not None:
            folder = path.rsplit("/", 1)[0]
            per_folder[folder] += 1
            if per_folder[folder] > package.per_folder:
                outcomes["rejected: over the per-folder cap"] += 1
                continue
        passed.append((candidate, data))
    return passed, copyright_text, outcomes


# Pictures under these folders are icons, localised handbook screenshots and documentation, not pictures anyone
# would upload; a package's own `include` rule replaces this one.
SKIPPED_FOLDERS = re.compile(r"^/usr/share/(icons|pixmaps|doc|help|locale|applications|metainfo)/")


def build_pictures(fetched: list[Fetched], excluded: list[str], out: Path, processes: int = 2) -> tuple[list[dict], list[PackageReport]]:
    """Analyse, filter, de-duplicate and write the pictures of the fetched packages (in their order) under `out`;
    returns the manifest rows and a report per package."""
    analysed: list[tuple[int, Candidate, bytes]] = []
    reports = []
    with Pool(processes) as workers:
        for priority, item in enumerate(fetched):
            passed, copyright_text, outcomes = candidates_of(item, SKIPPED_FOLDERS, workers)
            analysed.extend((priority, candidate, data) for candidate, data in passed)
            reports.append(PackageReport(item.package.name, item.version, licence_summary(copyright_text), outcomes))
            (out / "licences").mkdir(parents=True, exist_ok=True)
            (out / "licences" / f"{item.package.name}.copyright").write_text(copyright_text)
            print(f"negatives: {item.package.name} {item.version}: {dict(outcomes)}", flush=True)
    analysed.sort(key=lambda found: (found[0], -found[1].width * found[1].height, found[1].sha256))
    duplicates = NearDuplicates(excluded)
    seen: set[str] = set()
    rows = []
    for priority, candidate, data in analysed:
        item, report = fetched[priority], reports[priority]
        if candidate.sha256 in seen:
            report.outcomes["dropped: identical file"] += 1
            continue
        seen.add(candidate.sha256)
        if duplicates.excludes(candidate):
            report.outcomes["dropped: near the team corpus"] += 1
            continue
        if duplicates.repeats(candidate):
            report.outcomes["dropped: near another picture"] += 1
            continue
        duplicates.keep(candidate)
        report.outcomes["kept"] += 1
        extension = _EXTENSIONS.get(candidate.format, candidate.source_path.rsplit(".", 1)[-1].lower())
        relative = Path("pictures") / item.package.name / f"{candidate.sha256[:16]}.{extension}"
        (out / relative).parent.mkdir(parents=True, exist_ok=True)
        (out / relative).write_bytes(data)
        row = {
            "path": str(relative), "package": item.package.name, "version": item.version, "licence": report.licence, "category": item.package.category,
            "split": split_of(item.package, candidate.sha256), "use": use_of(item.package, candidate.sha256), "width": candidate.width,
            "height": candidate.height, "format": candidate.format, "bytes": candidate.size, "sha256": candidate.sha256, "pdq": candidate.pdq,
            "pdq_quality": candidate.quality, "source_path": candidate.source_path,
        }
        rows.append(row)
    rows.sort(key=lambda row: row["path"])
    return rows, reports


def write_manifest(rows: list[dict], path: Path, fields: tuple[str, ...] = MANIFEST_FIELDS) -> None:
    if path.is_symlink():
        # A corpus folder may link to another one's manifests: rewriting through the link would change that corpus.
        path.unlink()
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def read_manifest(path: Path) -> list[dict]:
    """The rows; a manifest written before the independence rule has no `withheld` column, read as nothing withheld."""
    with path.open(newline="") as found:
        return [{**row, "withheld": row.get("withheld") or ""} for row in csv.DictReader(found)]


def taken(row: dict) -> bool:
    """Is this manifest row (a picture or a video) in the corpus, not withheld by the independence rule?"""
    return not row.get("withheld")


