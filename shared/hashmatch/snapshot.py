"""A hash set as one compact file: its references (media and hash-list entries), exact digests and PDQ frames.

`hashmatch index build` writes it, `hashmatch match --index` reads it. Layout: a header (magic,
version, lengths), the references and digests as JSON, then the FrameIndex snapshot (per-frame
owner, timestamp and span, the PdqIndex's hashes and buckets), each part 64-byte aligned, so a
reader maps the arrays without copying and without per-entry work.
"""

from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Iterable, Mapping

from hashmatch.frame_index import FrameIndex
from hashmatch.hash_lists import HashListEntry, SignalKind
from hashmatch.matcher import DigestStage, Matcher, PdqStage
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import Stage

_HEADER = struct.Struct("<8sIQQ")
_MAGIC = b"HMSNAPSH"
_VERSION = 1
_ALIGN = 64


@dataclass(frozen=True)
class SnapshotReference:
    """What a match to one key of the snapshot reports: a hash-list entry (kind "hash") or hashed media."""

    key: str
    labels: tuple[str, ...]
    source: str
    kind: str
    duration: float = 0.0


class HashSetSnapshot:
    def __init__(self, references: Mapping[str, SnapshotReference], frames: FrameIndex, digests: Mapping[Stage, Mapping[str, str]]):
        self.references = dict(references)
        self.frames = frames
        self.digests = {stage: dict(found) for stage, found in digests.items()}

    @classmethod
    def build(cls, entries: Iterable[HashListEntry] = (), media: Mapping[str, MediaHashes] | None = None) -> "HashSetSnapshot":
        """From hash-list entries (merged by hash: labels and sources joined) and media hashed as references (keyed by name)."""
        merged: dict[str, tuple[HashListEntry, set[str], set[str]]] = {}
        for entry in entries:
            key = f"{entry.signal_type}:{entry.hash}"
            first, labels, sources = merged.setdefault(key, (entry, set(), set()))
            labels.update(entry.labels)
            sources.add(entry.source)
        references: dict[str, SnapshotReference] = {}
        frames = FrameIndex(PRIMARY_SIGNAL.bits)
        digests: dict[Stage, dict[str, str]] = {Stage.MD5: {}, Stage.SHA256: {}}
        for key, (entry, labels, sources) in merged.items():
            references[key] = SnapshotReference(key, tuple(sorted(labels)), ", ".join(sorted(sources)), "hash")
            if entry.signal_type == SignalKind.PDQ:
                frames.add(key, [(0.0, entry.hash)], 0.0)
            else:
                digests[Stage(str(entry.signal_type))][entry.hash] = key
        for name, hashes in (media or {}).items():
            references[name] = SnapshotReference(name, (), "media", str(hashes.kind), hashes.duration)
            frames.add(name, [(frame.timestamp, frame.pdq) for frame in hashes.usable_frames], hashes.duration)
            digests[Stage.MD5][hashes.md5] = name
            digests[Stage.SHA256][hashes.sha256] = name
        return cls(references, frames, digests)

    def matcher(self, pdq_threshold: int = PRIMARY_SIGNAL.match_threshold) -> Matcher:
        """Exact digests, then PDQ (local features are not in a snapshot)."""
        durations = {key: reference.duration for key, reference in self.references.items()}
        stages = [DigestStage(Stage.MD5, self.digests[Stage.MD5]), DigestStage(Stage.SHA256, self.digests[Stage.SHA256]), PdqStage(self.frames, pdq_threshold)]
        return Matcher(durations, stages)

    def to_bytes(self) -> bytes:
        described = json.dumps(
            {"references": [asdict(reference) for reference in self.references.values()], "digests": {str(stage): found for stage, found in self.digests.items()}},
            separators=(",", ":"),
        ).encode()
        frames = self.frames.to_bytes()
        header = _HEADER.pack(_MAGIC, _VERSION, len(described), len(frames))
        pad = lambda data: data + b"\0" * (-len(data) % _ALIGN)  # noqa: E731
        return pad(header) + pad(described) + frames

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> "HashSetSnapshot":
        view = memoryview(data).cast("B")
        if len(view) < _HEADER.size:
            raise ValueError("not a hash-set snapshot: too short")
        magic, version, described_bytes, frames_bytes = _HEADER.unpack_from(view)
        if magic != _MAGIC:
            raise ValueError("not a hash-set snapshot (hashmatch index build writes them)")
        if version != _VERSION:
            raise ValueError(f"hash-set snapshot version {version} is not supported (this code reads version {_VERSION})")
        offset = _HEADER.size + (-_HEADER.size % _ALIGN)
        described = json.loads(bytes(view[offset : offset + described_bytes]))
        offset += described_bytes + (-described_bytes % _ALIGN)
        if offset + frames_bytes != len(view):
            raise ValueError("hash-set snapshot is truncated or has trailing bytes")
        references = {item["key"]: SnapshotReference(**{**item, "labels": tuple(item["labels"])}) for item in described["references"]}
        digests = {Stage(stage): found for stage, found in described["digests"].items()}
        return cls(references, FrameIndex.from_bytes(view[offset:]), digests)

    def write(self, path: str | PathLike) -> None:
        with open(path, "wb") as out:
            out.write(self.to_bytes())

    @classmethod
    def read(cls, path: str | PathLike) -> "HashSetSnapshot":
        with open(path, "rb") as source:
            return cls.from_bytes(source.read())
