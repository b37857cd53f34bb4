"""Signals from the imagehash library, computed beside PDQ (64-bit pHash and dHash)."""

from __future__ import annotations

import numpy as np

from hashmatch.signals.base import SignalType, SignalValue, hash_of_bits

# imagehash's 64-bit hashes are coarser than PDQ: unrelated natural images sit around
# 32 bits apart and re-encodes within a few bits. 10 of 64 bits keeps roughly the same
# ratio to the hash width as PDQ's 31 of 256 (about 12-16 %).
PHASH_MATCH_THRESHOLD = 10
DHASH_MATCH_THRESHOLD = 10


class PHashSignal(SignalType):
    name = "phash"
    bits = 64
    match_threshold = PHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash
        from PIL import Image

        return SignalValue(hash_of_bits(imagehash.phash(Image.fromarray(rgb)).hash), 100)


class DHashSignal(SignalType):
    name = "dhash"
    bits = 64
    match_threshold = DHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash
        from PIL import Image

        return SignalValue(hash_of_bits(imagehash.dhash(Image.fromarray(rgb)).hash), 100)
