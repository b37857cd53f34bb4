"""Signals from the imagehash library, computed beside PDQ (64-bit pHash and dHash)."""

from __future__ import annotations

import numpy as np

from hashmatch.hashes import Hash
from hashmatch.signals.base import SignalType, SignalValue

# imagehash's 64-bit hashes are coarser than PDQ: unrelated natural images sit around
# 32 bits apart and re-encodes within a few bits. 10 of 64 bits keeps roughly the same
# ratio to the hash width as PDQ's 31 of 256 (about 12-16 %).
PHASH_MATCH_THRESHOLD = 10
DHASH_MATCH_THRESHOLD = 10


def _image_hash_to_hash(image_hash) -> Hash:
    return Hash.from_bits(image_hash.hash.flatten())


class PHashSignal(SignalType):
    name = "phash"
    bits = 64
    match_threshold = PHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash
        from PIL import Image

        return SignalValue(_image_hash_to_hash(imagehash.phash(Image.fromarray(rgb))), 100)


class DHashSignal(SignalType):
    name = "dhash"
    bits = 64
    match_threshold = DHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash
        from PIL import Image

        return SignalValue(_image_hash_to_hash(imagehash.dhash(Image.fromarray(rgb))), 100)
