"""The in-process pipeline the adversarial suite and the false-positive evaluation decide with: the hasher's and the matcher's own use cases."""

from __future__ import annotations

import pytest

from hashmatch.matching.assembly import HashSetVersion
from hashmatch_tools.evaluation.pipeline import Decision, DeployedSettings, UploadPipeline
from hashmatch_tools.made_media import declared_png, detailed, image_bytes
from hashmatch_tools.matching import hash_reference
from hashmatch.vocabulary import CannotCheckAction


@pytest.fixture(scope="module")
def pipeline() -> UploadPipeline:
    return UploadPipeline.of_references({"known": hash_reference(image_bytes(detailed(11, 320, 240)))})


def test_the_settings_are_the_deployed_ones():
    settings = DeployedSettings.of_template()

    assert settings.memory_mb >= 1024 and settings.timeout_seconds > 60 and settings.pdq_threshold == 31
    assert settings.cannot_check_action == CannotCheckAction.HOLD


def test_a_copy_of_a_reference_is_matched_naming_it(pipeline):
    outcome = pipeline.decide(image_bytes(detailed(11, 320, 240), "JPEG", quality=80), "copy.jpg")

    assert outcome.decision == Decision.MATCHED and outcome.references == ("known",)


def test_a_match_says_what_decided_it_as_its_message_does(pipeline):
    outcome = pipeline.decide(image_bytes(detailed(11, 320, 240), "JPEG", quality=80), "copy.jpg")

    (evidence,) = outcome.evidence
    assert evidence.startswith("known (pdq, query_share: distance ") and f"(at most {pipeline.settings.pdq_threshold})" in evidence
    assert "1 upload frames, 100 % of the upload" in evidence


def test_a_match_names_the_signal_that_decided_each_reference_as_its_message_does(pipeline):
    outcome = pipeline.decide(image_bytes(detailed(11, 320, 240), "JPEG", quality=80), "copy.jpg")

    assert outcome.signals == ("pdq",) and len(outcome.signals) == len(outcome.references)


def test_an_unrelated_picture_passes(pipeline):
    outcome = pipeline.decide(image_bytes(detailed(12, 320, 240)), "other.png")

    assert outcome.decision == Decision.PASSED and str(outcome.checking) == "unmatched"


def test_text_is_rejected_and_left_online(pipeline):
    outcome = pipeline.decide(b"just some words\n" * 20, "notes.txt")

    assert outcome.decision == Decision.PASSED and str(outcome.hashing) == "rejected" and outcome.checking is None


def test_a_picture_over_the_pixel_limit_is_held(pipeline):
    outcome = pipeline.decide(declared_png(60_000, 60_000), "bomb.png")

    assert outcome.decision == Decision.HELD and str(outcome.hashing) == "unchecked"
    assert outcome.detail.startswith("oversized")


def test_a_delivery_that_raises_leaves_the_upload_online(pipeline):
    class FailingHashSet(HashSetVersion):
        def match(self, hashes, detail_pictures=None):
            raise RuntimeError("hash set unreadable")

    failing = UploadPipeline(FailingHashSet(pipeline.hash_set.view, pipeline.hash_set.matcher, 1), pipeline.settings)

    outcome = failing.decide(image_bytes(detailed(11, 320, 240)), "copy.png")

    assert outcome.decision == Decision.PASSED and outcome.checking is None
    assert "the matcher raised RuntimeError: hash set unreadable" in outcome.detail
