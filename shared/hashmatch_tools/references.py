"""Known media added to a stack's hash set from an operator's machine: hashed here (PDQ frames and local features), stored there."""

from __future__ import annotations

from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.vocabulary import Action
from hashmatch_tools.matching import hash_reference


def add_reference(hash_set: HashSetTable, path: str, *, label: str, source: str, action: Action = Action.QUARANTINE, reference_id: str | None = None):
    """Hash a known media file densely (role "reference": PDQ frames and local features) and add it.

    The hash set stores PDQ (the other imagehash signals are not matched on) and, in its
    reference-features bucket, the local features; this runs where OpenCV is installed.
    """
    hashes = hash_reference(path, extra_signals=())
    return hash_set.add_reference(hashes, label=label, source=source, action=action, reference_id=reference_id)
