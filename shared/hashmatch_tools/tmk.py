"""TMK+PDQF matching where tmkpy (Meta's TMK, bound for Python) is installed: `hashmatch match` of videos against a list's TMK entries.

Optional and offline only. tmkpy hashes a video by running the `ffmpeg` executable (resampled to
15 fps, 64x64), which no Lambda function here carries: in the stack TMK entries are stored, not
matched (docs/hash-lists.md). tmkpy builds from its source release with Debian's `swig` and
a C++ compiler (requirements/apt.txt; `make tmk` installs requirements/tmk.txt).

tmkpy puts the video's path into a shell command unquoted, so it is never given a name from
outside: each video is copied into a private temporary folder under a fixed name first.

A TMK entry matches a video when both of TMK's scores reach 0.7 (the level-1 cosine of the
average frame features, then the level-2 score of the time-frequency features): tmk's own
defaults (tmk_default_thresholds.h), which reproduce the clusters tmk's README gives for its
sample videos (the corpus's chair and pattern families; tests/corpus/test_tmk_matching.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hashmatch.hash_set.formats.tmk import TmkEntry, vectors

LEVEL_1_THRESHOLD = 0.7
LEVEL_2_THRESHOLD = 0.7


def available() -> str | None:
    """None when TMK matching can run here; else why not."""
    try:
        import tmkpy  # noqa: F401
    except ImportError:
        return "tmkpy is not installed (requirements/tmk.txt)"
    if shutil.which("ffmpeg") is None:
        return "no ffmpeg executable on PATH (tmkpy runs it)"
    return None


@contextlib.contextmanager
def _quiet_stderr():
    """ffmpeg's banner and progress, which tmkpy leaves on the caller's stderr, go nowhere."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def video_vectors(path: str | os.PathLike) -> Any:
    """The TMK+PDQF feature vectors of a video file (tmkpy.TMKFeatureVectors); ValueError when it cannot be read."""
    import tmkpy

    with tempfile.TemporaryDirectory(prefix="hashmatch-tmk-") as folder:
        safe = Path(folder) / "video"  # a name of our own: tmkpy does not quote the path it hands to a shell
        shutil.copyfile(path, safe)
        with _quiet_stderr():
            found = tmkpy.hashVideo(str(safe), shutil.which("ffmpeg"))
    if found is None or found.getFrameFeatureCount() <= 0:
        raise ValueError("TMK: no frame of the video could be read")
    return found


def entry_vectors(entry: TmkEntry) -> Any:
    """A TMK entry's feature vectors as tmkpy's object (rebuilt from the export's bytes: tmkpy reads only its own files)."""
    import tmkpy

    parts = vectors(entry.data)
    periods, coefficients, features = parts.shape

    def floats(data: bytes) -> list[float]:
        return list(struct.unpack(f"<{len(data) // 4}f", data))

    def cube(data: bytes) -> list[list[list[float]]]:
        flat = floats(data)
        return [[flat[(p * coefficients + c) * features : (p * coefficients + c + 1) * features] for c in range(coefficients)] for p in range(periods)]

    return tmkpy.createTMKFeatureVectors(parts.fps, parts.frame_count, list(parts.periods), floats(parts.coefficients), floats(parts.pure_average), cube(parts.cos), cube(parts.sin))


@dataclass(frozen=True)
class TmkMatch:
    entry: TmkEntry
    level_1: float
    level_2: float


def scores(video: Any, listed: Any) -> tuple[float, float]:
    import tmkpy

    kind = tmkpy.TMKFeatureVectors
    if not kind.areCompatible(video, listed):
        return -1.0, -1.0
    return float(kind.computeLevel1Score(video, listed)), float(kind.computeLevel2Score(video, listed))


def match_tmk(video: Any, entries: Sequence[TmkEntry], listed: Sequence[Any] | None = None) -> list[TmkMatch]:
    """The entries the video matches (both scores at least 0.7), best level-2 score first."""
    found = []
    for entry, vectors_of_entry in zip(entries, listed if listed is not None else [entry_vectors(e) for e in entries]):
        level_1, level_2 = scores(video, vectors_of_entry)
        if level_1 >= LEVEL_1_THRESHOLD and level_2 >= LEVEL_2_THRESHOLD:
            found.append(TmkMatch(entry, level_1, level_2))
    return sorted(found, key=lambda match: -match.level_2)
