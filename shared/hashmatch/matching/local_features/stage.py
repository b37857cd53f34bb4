"""The local-feature stage of the Matcher: the upload's detail pictures to ORB features, verified against the references'."""

from __future__ import annotations

from typing import Callable, Hashable, Iterable, Mapping, Sequence

from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.matching.local_features.orb import MIN_INLIERS, SEARCH_THREADS, features_of_detail_picture, in_threads
from hashmatch.hash_set.snapshot import KnownItem
from hashmatch.matching.matcher import DetailPictureLoader, StageFindings
from hashmatch.model import FrameFeatures, MediaHashes
from hashmatch.matching.verdict import sampling_step
from hashmatch.vocabulary import Stage


# Detail pictures of an upload that are also searched mirrored, spread over it (all of them once one of
# these is verified). A mirrored video is mirrored throughout, so a few probes find it; each costs what
# an unmirrored search costs, so this bounds what unmatched uploads pay for mirror awareness.
MIRROR_PROBES = 4


def spread(count: int, wanted: int) -> list[int]:
    """`wanted` positions of `count`, evenly spread (all of them when there are no more)."""
    if count <= wanted:
        return list(range(count))
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)}) if wanted > 1 else [count // 2]


class LocalFeatureStage:
    """Searches the references' local features with the features of the upload's detail pictures."""

    stage = Stage.LOCAL_FEATURES
    threshold = MIN_INLIERS

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
        pictures = list(detail_pictures())
        frames = in_threads(features_of_detail_picture, pictures)

        def mirrored(positions: Sequence[int]) -> list[FrameFeatures]:
            return in_threads(lambda position: features_of_detail_picture(pictures[position], mirrored=True), list(positions))

        verifiable, found = search_pictures(self.index, frames, mirrored)
        if not verifiable:
            return None
        return StageFindings(verifiable, found, sampling_step(frames), MIN_INLIERS, self.index.recognisable_seconds())


def search_pictures(
    index: LocalFeatureIndex,
    frames: Sequence[FrameFeatures],
    mirrored: Callable[[Sequence[int]], list[FrameFeatures]],
    threads: int = SEARCH_THREADS,
) -> tuple[list[FrameFeatures], dict[Hashable, list[FrameMatch]]]:
    """The stage's search of one upload: its detail pictures' features (`frames`) and, where asked for,
    those of the pictures at some positions flipped left to right (`mirrored`). Gives the pictures the
    verdict weighs and, per reference, the pictures verified against its frames.
    """
    # A picture with fewer descriptors than a verification needs inliers (a blank wall, a black or
    # blurred frame) can match nothing: it is neither searched nor counted among the pictures a
    # verdict weighs, as PDQ leaves out its frames of low quality.
    verifiable = [position for position, frame in enumerate(frames) if len(frame.features) >= MIN_INLIERS]
    found: dict[Hashable, list[FrameMatch]] = {}
    if not verifiable:
        return [], found

    def search(searched: list[FrameFeatures]) -> bool:
        results = index.search_all([frame.features for frame in searched], threads=threads)
        for frame, hits in zip(searched, results):
            for hit in hits:
                found.setdefault(hit.reference, []).append(FrameMatch(frame.timestamp, hit.timestamp, hit.span, None, hit.inliers))
        return any(results)

    search([frames[position] for position in verifiable])
    # Mirrored copies: a few pictures, flipped, probe first; only when a probe is verified are the
    # others flipped and searched too. An upload that matches nothing pays for the probes alone.
    probes = [verifiable[i] for i in spread(len(verifiable), MIRROR_PROBES)]
    if search(mirrored(probes)):
        rest = [position for position in verifiable if position not in probes]
        if rest:
            search(mirrored(rest))
    return [frames[position] for position in verifiable], found


def local_feature_index(
    references: Iterable[KnownItem], features: dict[str, list[FrameFeatures] | None], index: LocalFeatureIndex | None = None
) -> LocalFeatureIndex:
    """The media references' local features (by features key; a key whose object is gone is left out)
    in one index: a new one, or added to `index`."""
    index = LocalFeatureIndex() if index is None else index
    for reference in references:
        frames = features.get(reference.features_key) if reference.features_key else None
        if frames:
            index.add(reference.key, [(frame.timestamp, frame.features) for frame in frames], reference.duration)
    return index
