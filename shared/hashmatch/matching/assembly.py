"""The one place a Matcher is assembled: exact digests, then PDQ, then PDQ of layout parts, then any later stage (local features), over a hash set.

Whatever the hash set is (a snapshot with the changes since it in a Lambda matcher, a snapshot
file for `hashmatch match`, media hashed in this process for `hashmatch compare` and the
evaluation), the Matcher over it comes from `hash_set_matcher`, with the PDQ threshold given by
the caller: the deployed setting, or the command's option. There is no default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping, Sequence

from hashmatch.hash_set.snapshot import ENTRY_KIND, HashSetSnapshot, HashSetView, KnownItem, KnownItemState
from hashmatch.matching.layouts import LayoutStage
from hashmatch.matching.matcher import DetailPictureLoader, DigestStage, Matcher, MatchResult, MatchStage, PdqStage
from hashmatch.matching.verdict import Verdict
from hashmatch.model import MediaHashes
from hashmatch.vocabulary import Action, Stage


def hash_set_matcher(view: HashSetView, pdq_threshold: int, later_stages: Sequence[MatchStage] = ()) -> Matcher:
    """Exact digests (list entries), then PDQ within `pdq_threshold` bits, then PDQ of the parts of the upload's detail
    pictures (layouts.py: split screens, collages), then `later_stages`; list entries are still (duration 0)."""
    frames = view.frames
    stages = [
        DigestStage(Stage.MD5, view.digests(Stage.MD5)), DigestStage(Stage.SHA256, view.digests(Stage.SHA256)),
        PdqStage(frames, pdq_threshold), LayoutStage(frames, pdq_threshold), *later_stages,
    ]
    return Matcher(view.durations(), stages)


def references_view(references: Mapping[str, MediaHashes], action: Action = Action.QUARANTINE) -> HashSetView:
    """Media hashed in this process as references (keyed by name), as a hash set: their usable PDQ frames, no digests (as in a stack)."""
    states = [
        KnownItemState(KnownItem(key, (), "media", str(hashes.kind), hashes.duration, action), tuple((frame.timestamp, frame.pdq) for frame in hashes.usable_frames))
        for key, hashes in references.items()
    ]
    return HashSetView(HashSetSnapshot.of_states(states))


@dataclass(frozen=True)
class KnownItemMatch:
    """An upload's match to one known item of the hash set: what the item is, and the verdict."""

    item: KnownItem
    verdict: Verdict
    track: int = 0  # which of the upload's pictures matched (MediaHashes.tracks); 0 the main one


class HashSetVersion:
    """One version of the hash set in memory: a view of what it holds and the Matcher over it."""

    def __init__(self, view: HashSetView, matcher: Matcher, version: int):
        self.view = view
        self.matcher = matcher
        self.version = version

    def describe(self, key: Hashable) -> KnownItem:
        """What a match to `key` reports; KeyError when this version holds no such item."""
        return self.view.describe(key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.view

    def match(self, hashes: MediaHashes, detail_pictures: DetailPictureLoader | None = None) -> tuple[MatchResult, list[KnownItemMatch]]:
        """The Matcher's result for the upload, and the known items it matches, best first."""
        result = self.matcher.match(hashes, detail_pictures)
        return result, [KnownItemMatch(self.view.describe(key), verdict, result.tracks.get(key, 0)) for key, verdict in result.matches]


__all__ = ["ENTRY_KIND", "HashSetVersion", "KnownItemMatch", "hash_set_matcher", "references_view"]
