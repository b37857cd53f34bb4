"""The local-feature stage of the Matcher: the upload's detail pictures to ORB features, verified against the references'."""

from __future__ import annotations

from typing import Hashable, Mapping

from hashmatch.frame_index import FrameMatch
from hashmatch.local_features.orb import LocalFeatureIndex, features_of_detail_picture, in_threads
from hashmatch.matcher import DetailPictureLoader, Matcher, PdqStage, StageFindings
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.verdict import sampling_step
from hashmatch.vocabulary import Stage


class LocalFeatureStage:
    """Searches the references' local features with the features of the upload's detail pictures."""

    stage = Stage.LOCAL_FEATURES

    def __init__(self, index: LocalFeatureIndex | None = None):
        self.index = index if index is not None else LocalFeatureIndex()

    @classmethod
    def of_references(cls, references: Mapping[Hashable, MediaHashes]) -> "LocalFeatureStage":
        index = LocalFeatureIndex()
        for key, reference in references.items():
            index.add(key, [(frame.timestamp, frame.features) for frame in reference.features], reference.duration)
        return cls(index)

    def __len__(self) -> int:
        return len(self.index)

    def find(self, upload: MediaHashes, detail_pictures: DetailPictureLoader | None) -> StageFindings | None:
        if detail_pictures is None:
            return None
        # ORB and the searches release the GIL: an upload's detail pictures go through both on threads.
        frames = in_threads(features_of_detail_picture, list(detail_pictures()))
        if not frames:
            return None
        found: dict[Hashable, list[FrameMatch]] = {}
        for frame, hits in zip(frames, self.index.search_all([frame.features for frame in frames])):
            for hit in hits:
                found.setdefault(hit.reference, []).append(FrameMatch(frame.timestamp, hit.timestamp, hit.span, None, hit.inliers))
        return StageFindings(frames, found, sampling_step(frames))


def two_stage_matcher(references: Mapping[Hashable, MediaHashes], pdq_threshold: int = PRIMARY_SIGNAL.match_threshold) -> Matcher:
    """PDQ, then local features, over references hashed in this process (with their local features)."""
    durations = {key: reference.duration for key, reference in references.items()}
    return Matcher(durations, [PdqStage.of_references(references, pdq_threshold), LocalFeatureStage.of_references(references)])
