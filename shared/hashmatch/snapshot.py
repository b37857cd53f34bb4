"""A hash set as one compact file: its references (media and hash-list entries), exact digests and PDQ frames.

`hashmatch index build` writes it, `hashmatch match --index` reads it. Layout: a header (magic,
version, lengths); as JSON the media references, the exact digests and the (labels, source)
groups of the list entries; each frame's group (uint32); then the FrameIndex snapshot (per-frame
owner, timestamp and span, the PdqIndex's hashes and buckets); each part 64-byte aligned, so a
reader maps the arrays without copying and without per-entry work.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Iterable, Mapping

import numpy as np

from hashmatch.frame_index import FrameIndex, aligned, padded
from hashmatch.hash_lists import HashListEntry, SignalKind
from hashmatch.matcher import DigestStage, Matcher, PdqStage
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import Stage

_HEADER = struct.Struct("<8sIQQQ")
_MAGIC = b"HMSNAPSH"
_VERSION = 2


@dataclass(frozen=True)
class SnapshotReference:
    """What a match to one key of the snapshot reports: a hash-list entry (kind "hash") or hashed media."""

    key: str
    labels: tuple[str, ...]
    source: str
    kind: str
    duration: float = 0.0


NO_GROUP = np.uint32(0xFFFFFFFF)


class HashSetSnapshot:
    """References by key (media and exact digests), PDQ list entries as still frames described by a group, and the frames' index.

    A PDQ list entry costs 4 bytes beside its frame: the position of its (labels, source) group,
    a small table shared by every entry of one list; its key is its own hash ("pdq:<hex>").
    """

    def __init__(self, references: Mapping[str, SnapshotReference], frames: FrameIndex, digests: Mapping[Stage, Mapping[str, str]], groups: list[tuple[tuple[str, ...], str]] | None = None, entry_group: np.ndarray | None = None):
        self.references = dict(references)
        self.frames = frames
        self.digests = {stage: dict(found) for stage, found in digests.items()}
        self.groups = list(groups or [])
        self.entry_group = entry_group if entry_group is not None else np.full(len(frames), NO_GROUP, np.uint32)

    @classmethod
    def build(cls, entries: Iterable[HashListEntry] = (), media: Mapping[str, MediaHashes] | None = None) -> "HashSetSnapshot":
        """From hash-list entries (merged by hash: labels and sources joined) and media hashed as references (keyed by name)."""
        merged: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        for entry in entries:
            labels, sources = merged.setdefault((str(entry.signal_type), entry.hash), (set(), set()))
            labels.update(entry.labels)
            sources.add(entry.source)
        references: dict[str, SnapshotReference] = {}
        digests: dict[Stage, dict[str, str]] = {Stage.MD5: {}, Stage.SHA256: {}}
        group_ids: dict[tuple[tuple[str, ...], str], int] = {}
        pdq_hashes, pdq_groups = [], []
        for (kind, value), (labels, sources) in merged.items():
            described = (tuple(sorted(labels)), ", ".join(sorted(sources)))
            if kind == SignalKind.PDQ:
                pdq_hashes.append(value)
                pdq_groups.append(group_ids.setdefault(described, len(group_ids)))
            else:
                key = f"{kind}:{value}"
                references[key] = SnapshotReference(key, *described, "hash")
                digests[Stage(kind)][value] = key
        frames = FrameIndex(PRIMARY_SIGNAL.bits)
        frames.add_still(pdq_hashes)  # first, so entry positions 0.. are the entries in this order
        for name, hashes in (media or {}).items():
            references[name] = SnapshotReference(name, (), "media", str(hashes.kind), hashes.duration)
            frames.add(name, [(frame.timestamp, frame.pdq) for frame in hashes.usable_frames], hashes.duration)
            digests[Stage.MD5][hashes.md5] = name
            digests[Stage.SHA256][hashes.sha256] = name
        entry_group = np.full(len(frames), NO_GROUP, np.uint32)
        entry_group[: len(pdq_groups)] = pdq_groups
        return cls(references, frames, digests, list(group_ids), entry_group)

    def describe(self, key: str, entry: int | None = None) -> SnapshotReference:
        """What a match reports for a key (and, for a PDQ list entry, the frame it matched)."""
        if key in self.references:
            return self.references[key]
        group = self.entry_group[entry] if entry is not None else NO_GROUP
        if group == NO_GROUP:
            raise KeyError(key)
        labels, source = self.groups[int(group)]
        return SnapshotReference(key, tuple(labels), source, "hash")

    def matcher(self, pdq_threshold: int = PRIMARY_SIGNAL.match_threshold) -> Matcher:
        """Exact digests, then PDQ (local features are not in a snapshot); list entries are still (duration 0)."""
        durations = {key: reference.duration for key, reference in self.references.items()}
        stages = [DigestStage(Stage.MD5, self.digests[Stage.MD5]), DigestStage(Stage.SHA256, self.digests[Stage.SHA256]), PdqStage(self.frames, pdq_threshold)]
        return Matcher(durations, stages)

    def to_bytes(self) -> bytes:
        described = json.dumps(
            {
                "references": [asdict(reference) for reference in self.references.values()],
                "digests": {str(stage): found for stage, found in self.digests.items()},
                "groups": [[list(labels), source] for labels, source in self.groups],
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
        if version != _VERSION:
            raise ValueError(f"hash-set snapshot version {version} is not supported (this code reads version {_VERSION})")
        offset = aligned(_HEADER.size)
        described = json.loads(bytes(view[offset : offset + described_bytes]))
        offset += aligned(described_bytes)
        entry_group = np.frombuffer(view, dtype="<u4", count=group_bytes // 4, offset=offset)
        offset += aligned(group_bytes)
        if offset + frames_bytes != len(view):
            raise ValueError("hash-set snapshot is truncated or has trailing bytes")
        references = {item["key"]: SnapshotReference(**{**item, "labels": tuple(item["labels"])}) for item in described["references"]}
        digests = {Stage(stage): found for stage, found in described["digests"].items()}
        groups = [(tuple(labels), source) for labels, source in described["groups"]]
        return cls(references, FrameIndex.from_bytes(view[offset:]), digests, groups, entry_group)

    def write(self, path: str | PathLike) -> None:
        with open(path, "wb") as out:
            out.write(self.to_bytes())

    @classmethod
    def read(cls, path: str | PathLike) -> "HashSetSnapshot":
        with open(path, "rb") as source:
            return cls.from_bytes(source.read())

