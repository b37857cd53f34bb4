"""The interface every hash family (signal type) implements, so a new family plugs in without touching callers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from hashmatch.hashes import Hash


@dataclass(frozen=True, slots=True)
class SignalValue:
    """One hash of one frame, with the family's quality score (100 when the family has none)."""

    hash: Hash
    quality: int


def hash_of_bits(bits: np.ndarray) -> Hash:
    """A hash from an array of 0/1 values (any shape), most significant bit first, as the hashers give them."""
    return Hash.from_bytes(np.packbits(np.asarray(bits, dtype=np.uint8).ravel()).tobytes())


def dihedral_transforms(rgb: np.ndarray) -> list[np.ndarray]:
    """The frame mirrored, rotated by 90/180/270 degrees and transposed: the 7 non-identity symmetries."""
    mirrored = rgb[:, ::-1]
    return [
        mirrored,
        rgb[::-1, :],
        np.rot90(rgb, 1),
        np.rot90(rgb, 2),
        np.rot90(rgb, 3),
        np.rot90(mirrored, 1),
        np.rot90(mirrored, 3),
    ]


class SignalType(ABC):
    """A perceptual hash family: how to hash a frame, how to compare, when two hashes match."""

    name: ClassVar[str]
    bits: ClassVar[int]
    match_threshold: ClassVar[int]
    min_quality: ClassVar[int] = 0

    @classmethod
    @abstractmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        """Hash one H x W x 3 uint8 RGB frame."""

    @classmethod
    def hash_frame_variants(cls, rgb: np.ndarray, exact: bool = True) -> list[Hash]:
        """Hashes of the frame's 7 mirrored and rotated versions (the original's excluded).

        `exact` hashes each transformed frame; a family may offer a cheaper approximation
        when `exact` is false.
        """
        return [cls.hash_frame(np.ascontiguousarray(transformed)).hash for transformed in dihedral_transforms(rgb)]

    @classmethod
    def hash_frame_and_variants(cls, rgb: np.ndarray, exact: bool = True) -> tuple[SignalValue, list[Hash]]:
        """The frame's hash and its variants' (hash_frame_variants), where a family can share work between them."""
        return cls.hash_frame(rgb), cls.hash_frame_variants(rgb, exact)

    @classmethod
    def parse(cls, text: str) -> Hash:
        """Validate a hash string at the edge: lowercase hex of exactly `bits` bits."""
        return Hash.from_hex(text, cls.bits)

    @classmethod
    def distance(cls, a: Hash | str, b: Hash | str) -> int:
        left = a if isinstance(a, Hash) else cls.parse(a)
        right = b if isinstance(b, Hash) else cls.parse(b)
        return left - right

    @classmethod
    def is_match(cls, a: Hash | str, b: Hash | str) -> bool:
        return cls.distance(a, b) <= cls.match_threshold
