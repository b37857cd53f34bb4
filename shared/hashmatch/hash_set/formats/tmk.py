"""TMK+PDQF: the video hash GIFCT's database long carried (`TMK1FVECPDQF|base64...` in HMA 1.0's exports).

A TMK hash is the whole feature-vector file of Meta's TMK (tmk/tools/tmkdump.py describes it):
a 12-byte magic, then fps, the number of periods P, of Fourier coefficients m and of features
d, and the frame count (int32 each), the P periods (int32), the m coefficients and the d-feature
pure average (float32), then the cosine and sine features, P x m x d float32 each; little
endian. The HMA export writes the magic as text and base64 of the rest. 263,344 bytes for
TMK+PDQF (P=4, m=32, d=256), so an entry is keyed by the SHA-256 of those bytes, not by the hash.

Stdlib only: reading, checking and keying. Comparing needs the vectors as numbers
(hashmatch_tools.tmk, with tmkpy); the stack keeps TMK entries but does not match them (its
hasher has no TMK: docs/hash-lists.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from hashmatch.hash_set.lists import EntryStatus, HashListEntry, normalised_time

TMK_SIGNAL = "tmk"  # the signal type of a TMK entry, as entry ids and the exports name it
MAGIC = b"TMK1FVECPDQF"
TEXT_PREFIX = MAGIC.decode() + "|"
_HEADER = struct.Struct("<5i")  # fps, periods, fourier coefficients, features, frame count


@dataclass(frozen=True)
class TmkVectors:
    """The parts of a TMK feature-vector file, as bytes where they are float32 arrays (little endian)."""

    fps: int
    frame_count: int
    periods: tuple[int, ...]
    coefficients: bytes  # m float32
    pure_average: bytes  # d float32
    cos: bytes  # P x m x d float32
    sin: bytes
    features: int  # d

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.periods), len(self.coefficients) // 4, self.features


def tmk_bytes(text: str) -> bytes:
    """The feature-vector file of a `TMK1FVECPDQF|base64` hash, checked; ValueError saying what is wrong."""
    if not isinstance(text, str) or not text.strip().startswith(TEXT_PREFIX):
        raise ValueError(f"a TMK hash starts with {TEXT_PREFIX}")
    try:
        data = MAGIC + base64.b64decode(text.strip()[len(TEXT_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("TMK hash: not valid base64 after TMK1FVECPDQF|") from None
    vectors(data)
    return data


def vectors(data: bytes) -> TmkVectors:
    """The parts of a feature-vector file (as written by tmk-hash-video), checked for size."""
    if len(data) < len(MAGIC) + _HEADER.size or not data.startswith(MAGIC):
        raise ValueError(f"TMK hash: {len(data)} bytes, too short for the TMK+PDQF header")
    fps, periods, coefficients, features, frame_count = _HEADER.unpack_from(data, len(MAGIC))
    if min(periods, coefficients, features) < 1 or max(periods, coefficients, features) > 4096 or fps < 1 or frame_count < 0:
        raise ValueError(f"TMK hash: header out of range (fps {fps}, {periods} periods, {coefficients} coefficients, {features} features)")
    at = len(MAGIC) + _HEADER.size
    sizes = (4 * periods, 4 * coefficients, 4 * features, 4 * periods * coefficients * features, 4 * periods * coefficients * features)
    if len(data) != at + sum(sizes):
        raise ValueError(f"TMK hash: {len(data)} bytes where its header says {at + sum(sizes)}")
    parts = []
    for size in sizes:
        parts.append(data[at : at + size])
        at += size
    return TmkVectors(fps, frame_count, struct.unpack(f"<{periods}i", parts[0]), parts[1], parts[2], parts[3], parts[4], features)


def tmk_text(data: bytes) -> str:
    """A feature-vector file as the HMA export writes it: TMK1FVECPDQF|base64 of what follows the magic."""
    vectors(data)
    return TEXT_PREFIX + base64.b64encode(data[len(MAGIC) :]).decode()


@dataclass(frozen=True, kw_only=True)
class TmkEntry:
    """A TMK+PDQF hash of a hash list, with one provenance: kept and counted, matched where tmkpy is (hashmatch_tools.tmk).

    `hash` is the export's text form, checked when made; `digest` (the SHA-256 of the vectors)
    is its identity, since the hash itself runs to 351 KB.
    """

    hash: str
    labels: tuple[str, ...] = ()
    source: str
    source_id: str | None = None
    added_at: str | None = None
    added_by: str | None = None
    status: EntryStatus = EntryStatus.ACTIVE

    def __post_init__(self) -> None:
        object.__setattr__(self, "hash", tmk_text(tmk_bytes(self.hash)))
        object.__setattr__(self, "labels", tuple(self.labels))
        # The same checks as a HashListEntry's, made on a PDQ stand-in (the hash is not what is checked).
        HashListEntry(signal_type="pdq", hash="0" * 64, labels=self.labels, source=self.source, source_id=self.source_id, added_by=self.added_by)
        if self.added_at is not None:
            object.__setattr__(self, "added_at", normalised_time(self.added_at))
        object.__setattr__(self, "status", EntryStatus(self.status))

    signal_type = TMK_SIGNAL

    @property
    def data(self) -> bytes:
        return tmk_bytes(self.hash)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def key(self) -> tuple[str, str]:
        return (TMK_SIGNAL, self.digest)

    @property
    def provenance(self) -> tuple[str, str | None]:
        return (self.source, self.source_id)
