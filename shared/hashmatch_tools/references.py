"""Known media added to a stack's hash set from an operator's machine: hashed here (PDQ frames and local features), stored there,
with small pictures of its frames for reviewers (the reference-pictures bucket)."""

from __future__ import annotations

import io

from hashmatch.aws.hash_set.table import HashSetTable, Reference
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.model import DetailPicture, EncodedDetailPicture
from hashmatch.vocabulary import Action
from hashmatch_tools.matching import hash_reference

# Reference pictures: grey, at most this many pixels a side, JPEG at this quality: enough to recognise a frame beside a
# match (and to outline where it appears in a local-feature match), about 15-25 KB each.
REFERENCE_PICTURE_SIDE = 384
REFERENCE_PICTURE_QUALITY = 80
# At most this many a reference (at one a second, ten minutes), spread over it when it is longer.
MAX_REFERENCE_PICTURES = 600


def reference_pictures(pictures: tuple[DetailPicture, ...] | list[DetailPicture], limit: int = MAX_REFERENCE_PICTURES) -> list[EncodedDetailPicture]:
    """The frames a reference's local features come from (one a second; sixteen spread over a reference shorter than 16 s), shrunk and encoded as grey JPEG, at most `limit`."""
    from PIL import Image

    chosen = list(pictures)
    if len(chosen) > limit:
        step = (len(chosen) - 1) / (limit - 1)
        chosen = [chosen[round(n * step)] for n in range(limit)]
    encoded = []
    for picture in chosen:
        image = Image.fromarray(picture.grey, "L")
        image.thumbnail((REFERENCE_PICTURE_SIDE, REFERENCE_PICTURE_SIDE))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=REFERENCE_PICTURE_QUALITY)
        encoded.append(EncodedDetailPicture(picture.timestamp, out.getvalue()))
    return encoded


def add_reference(
    hash_set: HashSetTable,
    path,
    *,
    label: str,
    source: str,
    action: Action = Action.QUARANTINE,
    reference_id: str | None = None,
    pictures: ReferencePictures | None = None,
) -> Reference:
    """Hash a known media file densely (role "reference": PDQ frames and local features) and add it; with `pictures`
    (the stack's reference-pictures bucket), write small pictures of its frames for reviewers too.

    The hash set stores PDQ (the other imagehash signals are not matched on) and, in its
    reference-features bucket, the local features; this runs where OpenCV is installed. A reference's
    frames are held in memory while it is hashed (about 0.6 MB a second of video) when pictures are written.
    """
    hashes = hash_reference(path, extra_signals=(), keep_detail_pictures=pictures is not None)
    reference = hash_set.add_reference(hashes, label=label, source=source, action=action, reference_id=reference_id)
    if pictures is not None:
        pictures.put(reference.reference_id, reference_pictures(hashes.detail_pictures))
    return reference
