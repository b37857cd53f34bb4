"""Hashes the tests make by hand, with no media behind them: for the hash set's storage, which needs no decoding."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from hashmatch.model import FrameFeatures, FrameHashes, LocalFeatures, MediaHashes


def reference_hashes(count: int, seed: int, role: str = "reference") -> MediaHashes:
    """Hashes as the hasher makes them, with random PDQs: two seeds are about 128 bits apart, far beyond a match."""
    rng = np.random.default_rng(seed)
    frames = tuple(FrameHashes(float(n), rng.bytes(32).hex(), 100) for n in range(count))
    return MediaHashes("video", "mp4", float(count), 320, 240, "", f"{seed:064x}", role, frames, count)


def with_features(hashes: MediaHashes, seed: int) -> MediaHashes:
    """The hashes with made-up local features, one frame per second (no OpenCV needed to store or load them)."""
    rng = np.random.default_rng(seed)
    frames = tuple(
        FrameFeatures(float(n), LocalFeatures(rng.integers(0, 640, (50, 2)).astype(np.float32), rng.integers(0, 256, (50, 32), dtype=np.uint8)))
        for n in range(int(hashes.duration))
    )
    return replace(hashes, features=frames)
