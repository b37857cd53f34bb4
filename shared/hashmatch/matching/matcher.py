"""One upload against the references: ordered stages, and the one place that decides when a later stage runs.

Each stage answers, for one upload, which references it finds, on which frames and how close
(FrameMatch); the Matcher turns those into verdicts (verdict.decide) and ranks the matches.
The policy: stages run in order, and a later stage runs only when no earlier one matched. The
exact digests of shared lists (MD5, SHA-256) are a dictionary lookup; PDQ is cheap and runs on
every upload; the local-feature stage (local_features/stage.py) is costly and catches the
copies PDQ misses.

The Lambda matcher, `hashmatch compare`, the evaluation and the demo all match through this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Mapping, Protocol, Sequence

from hashmatch.hash_set.frame_index import FrameIndex, FrameMatch
from hashmatch.model import EncodedDetailPicture, FrameFeatures, FrameHashes, MediaHashes
from hashmatch.matching.verdict import Verdict, decide, sampling_step
from hashmatch.vocabulary import Stage

# Where the upload's detail pictures come from (an S3 object in Lambda, memory in the CLI):
# called only when a stage needs them, so an upload PDQ decides costs no read.
DetailPictureLoader = Callable[[], Sequence[EncodedDetailPicture]]


@dataclass(frozen=True)
class StageFindings:
    """What one stage found for one upload."""

    query_frames: Sequence[FrameHashes] | Sequence[FrameFeatures]  # the upload frames it looked at
    matches: Mapping[Hashable, list[FrameMatch]]  # per reference: the frames that matched, and how close
    step: float  # the time between those upload frames (0 for a still picture)
    threshold: int  # what the stage matched frames within: PDQ bits, local-feature inliers, 0 for an exact digest
    # Per reference, the seconds of it this stage can recognise at all (verdict.decide).
    recognisable_seconds: Mapping[Hashable, float] = field(default_factory=dict)


class MatchStage(Protocol):
    stage: Stage
    threshold: int

    def __len__(self) -> int:
        """Reference frames the stage holds (0: it has nothing to match against)."""

    def find(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None) -> StageFindings | None:
        """The references this upload meets in this stage; None when the stage cannot look (nothing of the upload to use)."""


class PdqStage:
    """The upload's usable frames (and their variants) against the references' PDQ frames, within the threshold."""

    stage = Stage.PDQ

    def __init__(self, index: FrameIndex, threshold: int):
        if not 0 <= threshold <= index.radius:
            raise ValueError(f"a PDQ threshold of {threshold} bits is outside what the index finds exactly (0 to {index.radius})")
        self.index = index
        self.threshold = threshold

    def __len__(self) -> int:
        return len(self.index)

    def find(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None = None) -> StageFindings | None:
        frames = upload.usable_frames
        if not frames:
            return None
        found = self.index.search([(frame.timestamp, frame.query_hashes) for frame in frames], self.threshold)
        return StageFindings(frames, found, sampling_step(upload.frames), self.threshold)


@dataclass(frozen=True)
class WholeFile:
    """The one "frame" an exact digest stage looks at: the file itself."""

    timestamp: float = 0.0


class DigestStage:
    """The upload's whole-file digest (MD5 or SHA-256) looked up among hash-list entries: a dictionary, constant time."""

    threshold = 0  # the whole file, bit for bit

    def __init__(self, stage: Stage, entries: Mapping[str, Hashable] | None = None):
        if stage not in (Stage.MD5, Stage.SHA256):
            raise ValueError(f"a digest stage is md5 or sha256, not {stage}")
        self.stage = stage
        # lowercase hex digest -> reference key; kept as given (not copied: a million entries)
        self.entries = entries if entries is not None else {}

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None = None) -> StageFindings | None:
        digest = upload.md5 if self.stage == Stage.MD5 else upload.sha256
        if not digest:
            return None
        key = self.entries.get(digest.lower())
        matches = {key: [FrameMatch(0.0, 0.0, 0.0, 0)]} if key is not None else {}
        return StageFindings((WholeFile(),), matches, 0.0, self.threshold)


# Exact digests first (an identical file), then PDQ by distance, then local features by inliers.
_STAGE_RANK = {Stage.MD5: 0, Stage.SHA256: 0, Stage.PDQ: 1, Stage.LOCAL_FEATURES: 2}


def best_first(verdict: Verdict, reference: Hashable) -> tuple:
    """Ranking of matches: exact digests, then PDQ matches by smallest distance, then local-feature matches by most inliers."""
    if verdict.stage == Stage.LOCAL_FEATURES:
        return (_STAGE_RANK[verdict.stage], -(verdict.best_inliers or 0), str(reference))
    return (_STAGE_RANK[verdict.stage], verdict.best_distance if verdict.best_distance is not None else 0, str(reference))


@dataclass(frozen=True)
class MatchResult:
    """The verdicts of one upload: against every reference a stage that ran met, matched or not."""

    verdicts: Mapping[Hashable, Verdict]
    stages: tuple[Stage, ...]  # the stages that looked at the upload, in order
    seconds: Mapping[Stage, float] = field(default_factory=dict)
    frame_matches: Mapping[Hashable, list[FrameMatch]] = field(default_factory=dict)  # behind each verdict
    tracks: Mapping[Hashable, int] = field(default_factory=dict)  # which of the upload's pictures each verdict is of (absent: 0)

    @property
    def matches(self) -> list[tuple[Hashable, Verdict]]:
        """The references the upload matches, best first."""
        matched = [(reference, verdict) for reference, verdict in self.verdicts.items() if verdict.match]
        return sorted(matched, key=lambda pair: best_first(pair[1], pair[0]))

    @property
    def deciding_stage(self) -> Stage | None:
        best = self.matches
        return best[0][1].stage if best else None


def _read_once(load: DetailPictureLoader) -> DetailPictureLoader:
    """The loader, reading at most once however many stages ask (an S3 GET in Lambda)."""
    read: list[Sequence[EncodedDetailPicture]] = []

    def once() -> Sequence[EncodedDetailPicture]:
        if not read:
            read.append(load())
        return read[0]

    return once


class Matcher:
    """References (by key, with their durations; a key not listed is still, duration 0, as a hash-list entry) and the stages that search them."""

    def __init__(self, durations: Mapping[Hashable, float], stages: Iterable[MatchStage]):
        self.durations = dict(durations)
        self.stages = tuple(stages)

    def __len__(self) -> int:
        return len(self.durations)

    def stage(self, stage: Stage) -> MatchStage | None:
        return next((s for s in self.stages if s.stage == stage), None)

    def match(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None = None) -> MatchResult:
        """Every reference the upload meets, with its verdict; later stages only while nothing has matched.

        An upload holding several pictures (video streams, cover art, pages: MediaHashes.tracks) is matched one picture at a
        time, so that a known second stream is judged on its own frames, not outnumbered by a benign first one; a reference's
        verdict is its best over them (a match wins). Detail pictures belong to the main picture (track 0)."""
        views = upload.track_views()
        if len(views) == 1:
            return self._match(upload, detail_pictures)
        verdicts: dict[Hashable, Verdict] = {}
        behind: dict[Hashable, list[FrameMatch]] = {}
        tracks: dict[Hashable, int] = {}
        ran: list[Stage] = []
        seconds: dict[Stage, float] = {}
        for view in views:
            track = view.frames[0].track if view.frames else 0
            result = self._match(view, detail_pictures if track == 0 else None)
            ran.extend(stage for stage in result.stages if stage not in ran)
            for stage, spent in result.seconds.items():
                seconds[stage] = seconds.get(stage, 0.0) + spent
            for reference, verdict in result.verdicts.items():
                known = verdicts.get(reference)
                if known is None or (verdict.match and (not known.match or best_first(verdict, reference) < best_first(known, reference))):
                    verdicts[reference], behind[reference], tracks[reference] = verdict, result.frame_matches.get(reference, []), track
        return MatchResult(verdicts, tuple(ran), seconds, behind, tracks)

    def _match(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None = None) -> MatchResult:
        verdicts: dict[Hashable, Verdict] = {}
        behind: dict[Hashable, list[FrameMatch]] = {}
        ran: list[Stage] = []
        seconds: dict[Stage, float] = {}
        detail_pictures = _read_once(detail_pictures) if detail_pictures is not None else None
        for stage in self.stages:
            if any(verdict.match for verdict in verdicts.values()):
                break
            if not len(stage):
                continue
            started = time.perf_counter()
            findings = stage.find(upload, detail_pictures)
            if findings is None:
                continue
            if stage.stage not in ran:
                ran.append(stage.stage)
            for reference, frame_matches in findings.matches.items():
                verdict = decide(
                    findings.query_frames, frame_matches, self.durations.get(reference, 0.0), stage=stage.stage, threshold=findings.threshold,
                    query_step=findings.step, recognisable_seconds=findings.recognisable_seconds.get(reference),
                )
                # A later stage's verdict replaces an earlier one only when it matches.
                if verdict.match or reference not in verdicts:
                    verdicts[reference] = verdict
                    behind[reference] = frame_matches
            # Two stages of one kind (PDQ of the frames, then of their parts: layouts.py) add up.
            seconds[stage.stage] = seconds.get(stage.stage, 0.0) + time.perf_counter() - started
        return MatchResult(verdicts, tuple(ran), seconds, behind)

    def verdict(self, upload: MediaHashes, reference: Hashable, detail_pictures: DetailPictureLoader | None = None) -> Verdict:
        """The upload's verdict against one reference (a no-match verdict when no stage met it)."""
        found = self.match(upload, detail_pictures).verdicts.get(reference)
        if found is not None:
            return found
        pdq = self.stage(Stage.PDQ)
        return decide(upload.usable_frames, [], self.durations.get(reference, 0.0), stage=Stage.PDQ, threshold=pdq.threshold if pdq is not None else 0)
