"""Matching in one process, for the CLI, the evaluation and tests: hash references with their local features, compare uploads.

Uploads reach the local-feature stage as they do in Lambda: their detail pictures round-tripped
through JPEG (the hasher's S3 object), not the pixels in memory.
"""

from __future__ import annotations

import os

from hashmatch.matching.local_features.orb import extract_with_insets
from typing import Mapping

from hashmatch.matching.assembly import hash_set_matcher, references_view
from hashmatch.matching.local_features.stage import LocalFeatureStage
from hashmatch.matching.matcher import Matcher
from hashmatch.matching.matcher import DetailPictureLoader
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.model import MediaHashes
from hashmatch.matching.verdict import Verdict
from hashmatch.vocabulary import Role


def hash_reference(source: bytes | str | os.PathLike, **options) -> MediaHashes:
    """Known media hashed densely, with its local features for the second stage."""
    return hash_media(source, role=Role.REFERENCE, features=extract_with_insets, **options)


def detail_pictures_of(upload: MediaHashes) -> DetailPictureLoader:
    """The upload's detail pictures as the Lambda matcher reads them: JPEG at the hasher's quality."""
    return lambda: [encode_detail_picture(picture) for picture in upload.detail_pictures]


def two_stage_matcher(references: Mapping[str, MediaHashes], pdq_threshold: int) -> Matcher:
    """PDQ, then local features, over references hashed in this process (with their local features): the stack's assembly."""
    return hash_set_matcher(references_view(references), pdq_threshold, [LocalFeatureStage.of_references(references)])


def compare(reference: MediaHashes, upload: MediaHashes, pdq_threshold: int) -> Verdict:
    """The verdict for one upload against one reference, both already hashed."""
    return two_stage_matcher({"reference": reference}, pdq_threshold).verdict(upload, "reference", detail_pictures_of(upload))
