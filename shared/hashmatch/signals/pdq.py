"""PDQ, the 256-bit photo hash that hash-sharing programmes exchange (pdqhash bindings of Meta's C++ reference)."""

from __future__ import annotations

import numpy as np

from hashmatch.hashes import Hash
from hashmatch.pdq_limits import PDQ_BITS, PDQ_CONFIDENT_MATCH_THRESHOLD, PDQ_MIN_QUALITY
from hashmatch.signals.base import SignalType, SignalValue, hash_of_bits

__all__ = ["PDQ_BITS", "PDQ_CONFIDENT_MATCH_THRESHOLD", "PDQ_MIN_QUALITY", "PdqSignal"]


class PdqSignal(SignalType):
    name = "pdq"
    bits = PDQ_BITS
    match_threshold = PDQ_CONFIDENT_MATCH_THRESHOLD
    min_quality = PDQ_MIN_QUALITY

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import pdqhash

        # 256 ints, most significant bit first: the order of the C++ reference's hex form.
        bits, quality = pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))
        return SignalValue(hash_of_bits(bits), int(quality))

    @classmethod
    def hash_frame_variants(cls, rgb: np.ndarray, exact: bool = True) -> list[Hash]:
        """Hashes of the mirrored and rotated frame.

        The approximate form costs two hashes instead of seven: pdqhash's dihedral hashes come
        from one DCT, but PDQ's box-filter downsampling is not mirror-symmetric, so some of
        them land 10-20 bits from the hash of the really transformed frame (measured on
        frames of 200x150 to 511x287 px). The left-right mirror, the common alteration of
        re-uploaded video, is therefore hashed exactly beside them.
        """
        if exact:
            return super().hash_frame_variants(rgb, exact=True)
        return cls.hash_frame_and_variants(rgb, exact=False)[1]

    @classmethod
    def hash_frame_and_variants(cls, rgb: np.ndarray, exact: bool = True) -> tuple[SignalValue, list[Hash]]:
        """The approximate form takes the frame's own hash from the same DCT as its variants (pdqhash
        returns the identity first, bit for bit the hash `hash_frame` gives): two hashes in all."""
        if exact:
            return cls.hash_frame(rgb), cls.hash_frame_variants(rgb, exact=True)
        import pdqhash

        all_bits, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb, dtype=np.uint8))
        approximations = [hash_of_bits(bits) for bits in all_bits[1:]]
        value = SignalValue(hash_of_bits(all_bits[0]), int(quality))
        return value, [cls.hash_frame(np.ascontiguousarray(rgb[:, ::-1])).hash, *approximations]
