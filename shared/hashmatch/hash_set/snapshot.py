"""A hash set as one compact file: its references (media and hash-list entries), exact digests and PDQ frames.

`hashmatch index build` writes it, `hashmatch match --index` reads it, and in a stack the indexer
keeps one in S3 that matchers start from. Layout: a header (magic, version, lengths); as JSON the
media references, the exact digests and the (labels, source, action) groups of the list entries;
each frame's group (uint32); then the FrameIndex snapshot (per-frame owner, timestamp and span,
the PdqIndex's hashes and buckets); each part 64-byte aligned, so a reader maps the arrays
without copying and without per-entry work.

What changed since a snapshot is a HashSetChanges: per reference key, its state now. A matcher
searches a snapshot and its changes together (HashSetView) without rebuilding anything large;
the indexer folds the changes into the next snapshot (HashSetSnapshot.patched).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from os import PathLike
from typing import Hashable, Iterable, Iterator

import numpy as np

from hashmatch.hash_set.frame_index import STILL, FrameIndex, FrameIndexLayers, aligned, padded
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import Action, Stage

_HEADER = struct.Struct("<8sIQQQ")
_MAGIC = b"HMSNAPSH"
_VERSION = 3
_READS = (2, 3)  # version 2: no action or features key (every reference quarantines)
ENTRY_KIND = "hash"  # the kind of a hash-list entry; media references have their media kind


@dataclass(frozen=True)
class KnownItem:
    """What a match to one key of the hash set reports: a hash-list entry (kind "hash") or hashed media."""

    key: str
    labels: tuple[str, ...]
    source: str
    kind: str
    duration: float = 0.0
    action: Action = Action.QUARANTINE
    features_key: str | None = None  # where a stack keeps the media's local features

    @property
    def reference_id(self) -> str:
        return self.key

    @property
    def label(self) -> str:
        """The labels as one text (a hash-list entry without labels: "hash list")."""
        return ", ".join(self.labels) or "hash list"

    @property
    def is_entry(self) -> bool:
        return self.kind == ENTRY_KIND

    def to_dict(self) -> dict:
        data = {**asdict(self), "labels": list(self.labels), "action": str(self.action)}
        if data["features_key"] is None:
            del data["features_key"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "KnownItem":
        return cls(**{**data, "labels": tuple(data["labels"]), "action": Action(data.get("action", Action.QUARANTINE))})


@dataclass(frozen=True)
class KnownItemState:
    """One known item as the hash set holds it now: what a match reports, and a media reference's PDQ frames.

    A hash-list entry's hash is in its key ("pdq:<hex>", "md5:<hex>", "sha256:<hex>");
    `digests` are a media reference's own exact digests, as (stage, hex) pairs.
    """

    item: KnownItem
    frames: tuple[tuple[float, str], ...] = ()
    digests: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return self.item.key

    def to_dict(self) -> dict:
        # "reference" is the stored name of the item (changes objects in S3 are read by matchers of other versions).
        return {"reference": self.item.to_dict(), "frames": [list(frame) for frame in self.frames], "digests": [list(pair) for pair in self.digests]}

    @classmethod
    def from_dict(cls, data: dict) -> "KnownItemState":
        return cls(
            KnownItem.from_dict(data["reference"]),
            tuple((float(t), str(h)) for t, h in data.get("frames", ())),
            tuple((str(s), str(h)) for s, h in data.get("digests", ())),
        )


@dataclass(frozen=True)
class Census:
    """How much a hash set holds: its known items (media references and list entries) and those whose match quarantines.
    What the indexer compares between one snapshot and the next, and a matcher between the set it holds and one offered
    (hash_set.trust): a set that suddenly holds far fewer is not believed without an operator."""

    items: int = 0
    quarantine_items: int = 0

    def __add__(self, other: "Census") -> "Census":
        return Census(self.items + other.items, self.quarantine_items + other.quarantine_items)

    def __sub__(self, other: "Census") -> "Census":
        return Census(self.items - other.items, self.quarantine_items - other.quarantine_items)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Census | None":
        return cls(int(data["items"]), int(data["quarantine_items"])) if data else None


@dataclass(frozen=True)
class HashSetChanges:
    """What changed since a snapshot: per reference key its state now; None when it is gone (removed or allowed)."""

    changed: Mapping[str, KnownItemState | None] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.changed)

    @property
    def size(self) -> int:
        """Keys changed plus the PDQ frames the present ones hold: what every matcher reads, hides and searches beside its snapshot."""
        return len(self.changed) + sum(len(state.frames) for state in self.changed.values() if state is not None)

    def then(self, later: "HashSetChanges") -> "HashSetChanges":
        """These changes followed by `later` (a later state of a key replaces an earlier one)."""
        return HashSetChanges({**self.changed, **later.changed})

    def to_bytes(self) -> bytes:
        changed = {key: (state.to_dict() if state is not None else None) for key, state in self.changed.items()}
        return json.dumps({"format": 1, "changed": changed}, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> "HashSetChanges":
        decoded = json.loads(data)
        if decoded.get("format") != 1:
            raise ValueError(f"hash-set changes of format {decoded.get('format')!r} are not supported (this code reads format 1)")
        return cls({key: (KnownItemState.from_dict(state) if state is not None else None) for key, state in decoded["changed"].items()})


# The key of a video listed by its frames' PDQ hashes (a vPDQ file): "vpdq:<file name>".
LISTED_VIDEO_PREFIX = "vpdq:"


class ListedVideo:
    """The frames of one listed video (a vPDQ file's entries) gathered into one known video.

    A vPDQ list is a video hashed frame by frame: matched frame by frame, each line would be a
    still picture of its own, needing two matching upload frames and reporting one match per
    frame. Gathered, the video is matched as hashed media is, by the video rules of the verdict
    (the shares of upload and reference, the segment rule). Each frame's hash keeps its own
    provenance in the lists; the video takes their labels and sources. Its duration runs to its
    last frame and one frame's time beyond (the file's frame rate, from the frames' own times).
    """

    def __init__(self, name: str):
        self.name = name
        self.frames: dict[float, str] = {}
        self.labels: set[str] = set()
        self.sources: set[str] = set()

    @property
    def key(self) -> str:
        return f"{LISTED_VIDEO_PREFIX}{self.name}"

    def add(self, entry: HashListEntry) -> None:
        self.frames.setdefault(float(entry.timestamp or 0.0), entry.hash)
        self.labels.update(entry.labels)
        self.sources.add(entry.source)

    def state(self, action: Action = Action.QUARANTINE) -> "KnownItemState":
        times = sorted(self.frames)
        gaps = sorted(b - a for a, b in zip(times, times[1:]) if b > a)
        duration = times[-1] + (gaps[len(gaps) // 2] if gaps else 0.0) if times else 0.0
        item = KnownItem(self.key, tuple(sorted(self.labels)), ", ".join(sorted(self.sources)), "video", round(duration, 3), action)
        return KnownItemState(item, tuple((t, self.frames[t]) for t in times))


NO_GROUP = np.uint32(0xFFFFFFFF)
Group = tuple[tuple[str, ...], str, Action]  # labels, source, action of PDQ list entries


class HashSetSnapshot:
    """References by key (media and exact digests), PDQ list entries as still frames described by a group, and the frames' index.

    A PDQ list entry costs 4 bytes beside its frame: the position of its (labels, source, action)
    group, a small table shared by every entry of one list; its key is its own hash ("pdq:<hex>").
    """

    def __init__(
        self,
        references: Mapping[str, KnownItem],
        frames: FrameIndex,
        digests: Mapping[Stage, Mapping[str, str]],
        groups: list[Group] | None = None,
        entry_group: np.ndarray | None = None,
    ):
        self.references = dict(references)
        self.frames = frames
        self.digests = {stage: dict(digests.get(stage, {})) for stage in (Stage.MD5, Stage.SHA256)}
        self.groups = list(groups or [])
        self.entry_group = entry_group if entry_group is not None else np.full(len(frames), NO_GROUP, np.uint32)
        self._media: list[KnownItem] | None = None

    @classmethod
    def of_states(cls, states: Iterable[KnownItemState]) -> "HashSetSnapshot":
        assembly = _Assembly({}, FrameIndex(PRIMARY_SIGNAL.bits), {}, [], np.zeros(0, np.uint32))
        for state in states:
            assembly.add(state)
        return assembly.snapshot()

    @classmethod
    def build(cls, entries: Iterable[HashListEntry] = (), media: Mapping[str, MediaHashes] | None = None) -> "HashSetSnapshot":
        """From hash-list entries (merged by hash: labels and sources joined; a vPDQ file's frames grouped into
        its listed video) and media hashed as references (keyed by name)."""
        merged: dict[str, tuple[set[str], set[str]]] = {}
        videos: dict[str, ListedVideo] = {}
        for entry in entries:
            name = entry.listed_video
            if name is not None:
                videos.setdefault(name, ListedVideo(name)).add(entry)
                continue
            labels, sources = merged.setdefault(f"{entry.signal_type}:{entry.hash}", (set(), set()))
            labels.update(entry.labels)
            sources.add(entry.source)
        states = [KnownItemState(KnownItem(key, tuple(sorted(labels)), ", ".join(sorted(sources)), ENTRY_KIND)) for key, (labels, sources) in merged.items()]
        states.extend(video.state() for video in videos.values())
        for name, hashes in (media or {}).items():
            states.append(
                KnownItemState(
                    KnownItem(name, (), "media", str(hashes.kind), hashes.duration),
                    tuple((frame.timestamp, frame.pdq) for frame in hashes.usable_frames),
                    ((str(Stage.MD5), hashes.md5), (str(Stage.SHA256), hashes.sha256)),
                )
            )
        return cls.of_states(states)

    def patched(self, changes: HashSetChanges) -> "HashSetSnapshot":
        """A new snapshot: this one with the changes folded in (what the indexer writes when the changes grow large)."""
        hidden = set(changes.changed)
        if not hidden:
            return self
        keep = ~_rows_of(self.frames, hidden)
        references = {key: reference for key, reference in self.references.items() if key not in hidden}
        digests = {stage: {digest: key for digest, key in found.items() if key not in hidden} for stage, found in self.digests.items()}
        assembly = _Assembly(references, self.frames.selected(keep), digests, list(self.groups), self.entry_group[keep])
        for state in changes.changed.values():
            if state is not None:
                assembly.add(state)
        return assembly.snapshot()

    def describe(self, key: str, entry: int | None = None) -> KnownItem:
        """What a match reports for a key (`entry`, the frame a PDQ list entry matched, saves finding it)."""
        if key in self.references:
            return self.references[key]
        if entry is None and key.startswith(_PDQ_PREFIX):
            rows = _still_rows(self.frames, [key[len(_PDQ_PREFIX) :]])
            entry = int(rows[0]) if len(rows) else None
        group = self.entry_group[entry] if entry is not None else NO_GROUP
        if group == NO_GROUP:
            raise KeyError(key)
        labels, source, action = self.groups[int(group)]
        return KnownItem(key, tuple(labels), source, ENTRY_KIND, action=action)

    def media(self) -> list[KnownItem]:
        """The hashed media among the references (not the list entries); found once per snapshot."""
        if self._media is None:
            self._media = [reference for reference in self.references.values() if not reference.is_entry]
        return self._media

    def census(self, keys: Iterable[str] | None = None) -> Census:
        """What the snapshot holds (with `keys`, of those keys only): its references and list entries, and how many quarantine."""
        if keys is None:
            references = list(self.references.values())
            listed = self.entry_group[self.entry_group != NO_GROUP]
        else:
            keys = set(keys)
            references = [self.references[key] for key in keys if key in self.references]
            rows = _still_rows(self.frames, [key[len(_PDQ_PREFIX) :] for key in keys if key.startswith(_PDQ_PREFIX)])
            listed = self.entry_group[rows]
            listed = listed[listed != NO_GROUP]
        quarantining = np.asarray([Action(action) == Action.QUARANTINE for _labels, _source, action in self.groups] + [False], bool)
        quarantined = int(quarantining[np.minimum(listed, len(self.groups)).astype(np.int64)].sum()) if len(listed) else 0
        return Census(len(references) + int(len(listed)), sum(reference.action == Action.QUARANTINE for reference in references) + quarantined)

    def to_bytes(self) -> bytes:
        described = json.dumps(
            {
                "references": [reference.to_dict() for reference in self.references.values()],
                "digests": {str(stage): found for stage, found in self.digests.items()},
                "groups": [[list(labels), source, str(action)] for labels, source, action in self.groups],
            },
            separators=(",", ":"),
        ).encode()
        frames = self.frames.to_bytes()
        groups = np.ascontiguousarray(self.entry_group, dtype="<u4").tobytes()
        header = _HEADER.pack(_MAGIC, _VERSION, len(described), len(groups), len(frames))
        return padded(header) + padded(described) + padded(groups) + frames

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> "HashSetSnapshot":
        view = memoryview(data).cast("B")
        if len(view) < _HEADER.size:
            raise ValueError("not a hash-set snapshot: too short")
        magic, version, described_bytes, group_bytes, frames_bytes = _HEADER.unpack_from(view)
        if magic != _MAGIC:
            raise ValueError("not a hash-set snapshot (hashmatch index build writes them)")
        if version not in _READS:
            raise ValueError(f"hash-set snapshot version {version} is not supported (this code reads versions {', '.join(map(str, _READS))})")
        offset = aligned(_HEADER.size)
        described = json.loads(bytes(view[offset : offset + described_bytes]))
        offset += aligned(described_bytes)
        entry_group = np.frombuffer(view, dtype="<u4", count=group_bytes // 4, offset=offset)
        offset += aligned(group_bytes)
        if offset + frames_bytes != len(view):
            raise ValueError("hash-set snapshot is truncated or has trailing bytes")
        references = {item["key"]: KnownItem.from_dict(item) for item in described["references"]}
        digests = {Stage(stage): found for stage, found in described["digests"].items()}
        groups = [(tuple(group[0]), group[1], Action(group[2]) if len(group) > 2 else Action.QUARANTINE) for group in described["groups"]]
        return cls(references, FrameIndex.from_bytes(view[offset:]), digests, groups, entry_group)

    def write(self, path: str | PathLike) -> None:
        with open(path, "wb") as out:
            out.write(self.to_bytes())

    @classmethod
    def read(cls, path: str | PathLike) -> "HashSetSnapshot":
        with open(path, "rb") as source:
            return cls.from_bytes(source.read())


_PDQ_PREFIX = f"{ListedSignal.PDQ}:"


def _still_rows(frames: FrameIndex, hashes: list[str]) -> np.ndarray:
    """The positions of the still entries (list entries) with exactly these hashes: a sub-linear search at distance 0."""
    if not hashes or not len(frames):
        return np.zeros(0, np.int64)
    _, rows, _ = frames.search_entries(hashes, 0)
    return rows[frames.owners()[rows] == STILL]


def _rows_of(frames: FrameIndex, keys: set[str]) -> np.ndarray:
    """A mask of the frames that belong to these keys (media references by owner, list entries by their hash)."""
    mask = np.zeros(len(frames), bool)
    owned = [position for position, key in enumerate(frames.references) if key in keys]
    if owned:
        mask |= np.isin(frames.owners(), np.asarray(owned, np.uint32))
    mask[_still_rows(frames, [key[len(_PDQ_PREFIX) :] for key in keys if key.startswith(_PDQ_PREFIX)])] = True
    return mask


class _Assembly:
    """Adds reference states to a snapshot's parts, then makes the snapshot: media frames after the kept ones, new list entries last."""

    def __init__(self, references: dict, frames: FrameIndex, digests: dict, groups: list[Group], entry_group: np.ndarray):
        self.references = references
        self.frames = frames
        self.digests = {stage: digests.get(stage, {}) for stage in (Stage.MD5, Stage.SHA256)}
        self.groups = groups
        self.group_ids = {group: position for position, group in enumerate(groups)}
        self.entry_group = entry_group
        self.still_hashes: list[str] = []
        self.still_groups: list[int] = []
        self.media: list[KnownItemState] = []

    def add(self, state: KnownItemState) -> None:
        reference = state.item
        if reference.is_entry:
            kind, _, value = reference.key.partition(":")
            if kind == ListedSignal.PDQ:
                group = (tuple(reference.labels), reference.source, Action(reference.action))
                self.still_hashes.append(value)
                self.still_groups.append(self.group_ids.setdefault(group, len(self.group_ids)))
                return
            self.references[reference.key] = reference
            self.digests[Stage(kind)][value] = reference.key
            return
        self.references[reference.key] = reference
        self.media.append(state)
        for stage, digest in state.digests:
            self.digests[Stage(stage)][digest] = reference.key

    def snapshot(self) -> HashSetSnapshot:
        kept = len(self.frames)
        for state in self.media:
            self.frames.add(state.key, state.frames, state.item.duration)
        media_frames = len(self.frames) - kept
        self.frames.add_still(self.still_hashes)
        self.groups.extend(list(self.group_ids)[len(self.groups) :])
        entry_group = np.concatenate(
            [np.asarray(self.entry_group, np.uint32), np.full(media_frames, NO_GROUP, np.uint32), np.asarray(self.still_groups, np.uint32)]
        )
        return HashSetSnapshot(self.references, self.frames, self.digests, self.groups, entry_group)


class _LayeredDigests(Mapping):
    """A snapshot's digest -> key table of list entries, with the changed keys hidden and their new digests beside it.

    Nothing is copied and nothing costs more than the changes: a matcher asks its length on every
    upload (an empty stage is skipped). Media references' own digests (offline snapshots only)
    are not changed this way.
    """

    def __init__(self, base: Mapping[str, str], hidden: set[str], overlay: Mapping[str, str], stage: Stage):
        self.base, self.hidden, self.overlay = base, hidden, overlay
        prefix = f"{stage}:"
        gone = sum(1 for key in hidden if key.startswith(prefix) and base.get(key[len(prefix) :]) == key)
        added = sum(1 for digest in overlay if digest not in base or base[digest] in hidden)
        self._length = len(base) - gone + added

    def __getitem__(self, digest: str) -> str:
        if digest in self.overlay:
            return self.overlay[digest]
        key = self.base[digest]
        if key in self.hidden:
            raise KeyError(digest)
        return key

    def __iter__(self) -> Iterator[str]:
        yield from self.overlay
        yield from (digest for digest, key in self.base.items() if key not in self.hidden and digest not in self.overlay)

    def __len__(self) -> int:
        return self._length


class HashSetView:
    """A snapshot and the changes made since it, searched together: a change costs what it holds, not what the snapshot holds.

    Every changed key is hidden in the snapshot; the keys still present are in a small overlay
    snapshot searched beside it (FrameIndexLayers for PDQ, layered tables for digests).
    """

    def __init__(self, snapshot: HashSetSnapshot, changes: HashSetChanges | None = None):
        self.snapshot = snapshot
        self.changes = changes or HashSetChanges()
        self.hidden = set(self.changes.changed)
        self.overlay = HashSetSnapshot.of_states(state for state in self.changes.changed.values() if state is not None)

    def census(self) -> Census:
        """What the snapshot and its changes hold together: the snapshot's, less the changed keys it held, plus their states now."""
        if not self.hidden:
            return self.snapshot.census()
        return self.snapshot.census() - self.snapshot.census(self.hidden) + self.overlay.census()

    def describe(self, key: Hashable) -> KnownItem:
        """What a match to `key` reports; KeyError when the hash set has no such reference."""
        if key in self.hidden:
            return self.overlay.describe(str(key))
        return self.snapshot.describe(str(key))

    def __contains__(self, key: Hashable) -> bool:
        try:
            self.describe(key)
        except KeyError:
            return False
        return True

    def media(self) -> list[KnownItem]:
        """The hashed media references (with their features keys), not the list entries."""
        return [reference for reference in self.snapshot.media() if reference.key not in self.hidden] + self.overlay.media()

    @property
    def frames(self) -> FrameIndex | FrameIndexLayers:
        if not self.hidden:
            return self.snapshot.frames
        return FrameIndexLayers(self.snapshot.frames, self.hidden, self.overlay.frames)

    def durations(self) -> dict[str, float]:
        """The media references' durations by key (list entries are still: duration 0, left out)."""
        return {reference.key: reference.duration for reference in self.media()}

    def digests(self, stage: Stage) -> Mapping[str, str]:
        """The exact-digest table of one stage (MD5 or SHA-256): digest -> key, the changes laid over the snapshot's."""
        if not self.hidden:
            return self.snapshot.digests[stage]
        return _LayeredDigests(self.snapshot.digests[stage], self.hidden, self.overlay.digests[stage], stage)
