"""Signals from the imagehash library, computed beside PDQ (64-bit pHash and dHash)."""

from __future__ import annotations

import numpy as np

from hashmatch.signals.base import SignalType, SignalValue, hash_of_bits

# imagehash's 64-bit hashes are coarser than PDQ: unrelated natural images sit around
# 32 bits apart and re-encodes within a few bits. 10 of 64 bits keeps roughly the same
# ratio to the hash width as PDQ's 31 of 256 (about 12-16 %).
PHASH_MATCH_THRESHOLD = 10
DHASH_MATCH_THRESHOLD = 10
# imagehash shrinks the whole picture to 32x32 (pHash) or 9x8 (dHash) with a Lanczos filter,
# whose cost grows with the picture: 14 ms for a 720x480 video frame. A box reduction by a
# whole factor first, to no less than this many pixels on the short side, makes it 1.9 ms
# and moves pHash by 0.25 bits on average, 2 at most, of 64 (measured on frames of the corpus
# chair and pattern videos), far inside the 10-bit threshold.
PREREDUCED_SIDE = 128


def _prepared(rgb: np.ndarray):
    """The frame as the grey Pillow picture imagehash takes, box-reduced towards PREREDUCED_SIDE."""
    from PIL import Image

    grey = Image.fromarray(rgb).convert("L")
    factor = min(grey.size) // PREREDUCED_SIDE
    return grey.reduce(factor) if factor > 1 else grey


class PHashSignal(SignalType):
    name = "phash"
    bits = 64
    match_threshold = PHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash

        return SignalValue(hash_of_bits(imagehash.phash(_prepared(rgb)).hash), 100)


class DHashSignal(SignalType):
    name = "dhash"
    bits = 64
    match_threshold = DHASH_MATCH_THRESHOLD

    @classmethod
    def hash_frame(cls, rgb: np.ndarray) -> SignalValue:
        import imagehash

        return SignalValue(hash_of_bits(imagehash.dhash(_prepared(rgb)).hash), 100)
