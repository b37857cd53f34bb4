"""PDQ's numbers every part shares: its width, the match threshold and the quality floor.

Stdlib only, so that code without numpy (the hash lists, the exchange sync) reads the same
numbers as the hasher and the matcher (hashmatch.signals.pdq re-exports them).
"""

from __future__ import annotations

PDQ_BITS = 256
# Meta's published operating point for PDQ: at 31 bits of 256 the false-positive rate on
# unrelated photos is about 1e-6 to 1e-7 while edits such as re-encoding, resizing and
# colour changes stay below it (python-threatexchange uses the same constant).
PDQ_CONFIDENT_MATCH_THRESHOLD = 31
# Frames below this quality (flat, dark or featureless) hash unstably: the reference
# implementation and vPDQ ignore them for matching.
PDQ_MIN_QUALITY = 50
