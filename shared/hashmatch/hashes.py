"""The hash value type: a fixed-width bit string that travels as lowercase hex."""

from __future__ import annotations

import re
from dataclasses import dataclass


class HashFormatError(ValueError):
    """A hash string that is not hex of the expected width."""


@dataclass(frozen=True, slots=True)
class Hash:
    """An immutable hash of `bits` bits; `a - b` is the Hamming distance, `str(h)` is hex."""

    value: int
    bits: int

    @classmethod
    def from_hex(cls, text: str, bits: int) -> "Hash":
        digits = bits // 4
        cleaned = text.strip().lower() if isinstance(text, str) else text
        if not isinstance(cleaned, str) or not re.fullmatch(rf"[0-9a-f]{{{digits}}}", cleaned):
            raise HashFormatError(f"expected {digits} hex digits for a {bits}-bit hash, got {text!r:.80}")
        return cls(int(cleaned, 16), bits)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Hash":
        return cls(int.from_bytes(data, "big"), len(data) * 8)

    def __str__(self) -> str:
        return format(self.value, f"0{self.bits // 4}x")

    def __sub__(self, other: "Hash") -> int:
        if not isinstance(other, Hash):
            return NotImplemented
        if other.bits != self.bits:
            raise ValueError(f"cannot compare a {self.bits}-bit hash with a {other.bits}-bit hash")
        return (self.value ^ other.value).bit_count()

    def to_bytes(self) -> bytes:
        return self.value.to_bytes(self.bits // 8, "big")
