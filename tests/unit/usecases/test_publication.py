"""The one rule that decides whether a match or a hold of an upload is published, as the live matcher and retro-match ask it.

The audit trail is the real DynamoDB adapter on moto's in-process mock, made as template.yaml makes the AuditTable.
"""

from __future__ import annotations

import pytest

from hashmatch.audit import AuditEvent, ExemptionCovers, ExemptionScope
from hashmatch.aws.audit_table import AuditTable
from hashmatch.uploads import Upload
from hashmatch.usecases.check_upload import Publication, RetroFacts, publication, retro_record_id
from hashmatch.vocabulary import Action, CannotCheckAction

SHA256 = "ab" * 32
UPLOAD = Upload.from_object("uploads", "user uploads/clip.mp4", "v2")
MATCH_ID = "6f2d3c1e-8a4b-5d7e-9f10-2a3b4c5d6e7f"
RETRO = RetroFacts(MATCH_ID, Action.QUARANTINE)
RETRO_REVIEW = RetroFacts(MATCH_ID, Action.REVIEW)


def exempt(audit: AuditTable, scope: ExemptionScope, bucket: str = "uploads", key: str = "user uploads/clip.mp4", covers: ExemptionCovers = ExemptionCovers.MATCHES) -> None:
    audit.exempt(SHA256, scope=scope, bucket=bucket, key=key, covers=covers, reinstated="s3://uploads/user uploads/clip.mp4?versionId=v1", reason="complaint upheld", requested_by="reviewer")


def test_a_match_of_bytes_nobody_reinstated_is_published(audit):
    assert publication(audit, UPLOAD, SHA256).publication == Publication.PUBLISH


def test_a_match_of_bytes_reinstated_at_this_key_is_exempted(audit):
    exempt(audit, ExemptionScope.UPLOAD)

    decided = publication(audit, UPLOAD, SHA256)

    assert decided.publication == Publication.EXEMPTED and decided.exemption["scope"] == "upload"


def test_a_match_of_the_same_bytes_at_another_key_is_published_after_an_upload_scoped_restore(audit):
    exempt(audit, ExemptionScope.UPLOAD)

    elsewhere = Upload.from_object("uploads", "someone else/clip.mp4", "v9")

    assert publication(audit, elsewhere, SHA256).publication == Publication.PUBLISH


def test_a_match_of_the_same_bytes_anywhere_is_exempted_after_a_bytes_scoped_restore(audit):
    exempt(audit, ExemptionScope.BYTES)

    elsewhere = Upload.from_object("other-bucket", "someone else/clip.mp4", "v9")

    assert publication(audit, elsewhere, SHA256).publication == Publication.EXEMPTED


def test_retro_match_asks_the_same_question_with_the_uploads_place(audit):
    # The bug this rule closed: retro-match looked the exemption up by SHA-256 alone, so an upload-scoped one never held.
    exempt(audit, ExemptionScope.UPLOAD)

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.EXEMPTED


def test_a_retro_match_published_before_is_not_published_again(audit):
    audit.record(retro_record_id(MATCH_ID), AuditEvent.RETRO_MATCHED, upload=UPLOAD.upload_id)

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.ALREADY_PUBLISHED


def test_a_retro_match_of_an_upload_that_matched_when_checked_is_left_to_that_match(audit):
    audit.record(UPLOAD.upload_id, AuditEvent.MATCHED, match_id="live", action="quarantine")

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.MATCHED_LIVE


def test_a_retro_match_for_quarantine_of_an_upload_matched_for_review_only_escalates(audit):
    audit.record(UPLOAD.upload_id, AuditEvent.MATCHED, match_id="live", action="review")

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.PUBLISH


def test_a_retro_match_for_review_of_an_upload_matched_for_review_is_left_to_that_match(audit):
    audit.record(UPLOAD.upload_id, AuditEvent.MATCHED, match_id="live", action="review")

    assert publication(audit, UPLOAD, SHA256, retro=RETRO_REVIEW).publication == Publication.MATCHED_LIVE


def test_a_retro_match_of_an_upload_taken_down_for_a_match_is_not_published(audit):
    audit.record(UPLOAD.upload_id, AuditEvent.TAKEDOWN, outcome="quarantined")

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.TAKEN_DOWN


def test_a_retro_match_of_a_restored_upload_is_not_published_the_restored_object_is_another_upload(audit):
    audit.record(UPLOAD.upload_id, AuditEvent.RESTORED)

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.TAKEN_DOWN


def test_a_retro_match_of_an_upload_held_as_uncheckable_is_published(audit):
    # Held because it could not be checked: a match found later must reach the record (restore's AlsoMatched) and the reviewers.
    audit.record(UPLOAD.upload_id, AuditEvent.TAKEDOWN, outcome="held")

    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.PUBLISH


def test_an_exemption_from_a_hold_does_not_cover_a_later_match(audit):
    exempt(audit, ExemptionScope.UPLOAD, covers=ExemptionCovers.CANNOT_CHECK)

    assert publication(audit, UPLOAD, SHA256).publication == Publication.PUBLISH
    assert publication(audit, UPLOAD, SHA256, retro=RETRO).publication == Publication.PUBLISH


def test_an_exemption_from_a_hold_covers_a_later_hold(audit):
    exempt(audit, ExemptionScope.UPLOAD, covers=ExemptionCovers.CANNOT_CHECK)

    assert publication(audit, UPLOAD, SHA256, hold=True).publication == Publication.EXEMPTED


def test_an_unread_uploads_exemption_holds_for_its_version_etag_and_size_not_for_its_key(audit):
    restored = Upload.from_object("uploads", "big.mp4", "v2", etag="e2", size=3 * 1024**3)
    audit.exempt("", scope=ExemptionScope.VERSION, covers=ExemptionCovers.CANNOT_CHECK, bucket="uploads", key="big.mp4", version={"upload_id": restored.upload_id, "etag": "e2", "size": restored.size}, reinstated="s3://uploads/big.mp4?versionId=v1", reason="reviewed", requested_by="reviewer")
    later = Upload.from_object("uploads", "big.mp4", "v3", etag="e3", size=4 * 1024**3)

    assert publication(audit, restored, "", hold=True).publication == Publication.EXEMPTED
    assert publication(audit, later, "", hold=True).publication == Publication.PUBLISH


def test_the_live_matcher_does_not_skip_an_upload_for_an_earlier_match_record(audit):
    # A redelivered upload publishes under the same match id, which the publisher's idempotency absorbs.
    audit.record(UPLOAD.upload_id, AuditEvent.MATCHED, match_id="live")

    assert publication(audit, UPLOAD, SHA256).publication == Publication.PUBLISH


def test_a_hold_is_published_unless_cannot_check_action_allows(audit):
    assert publication(audit, UPLOAD, SHA256, hold=True).publication == Publication.PUBLISH
    assert publication(audit, UPLOAD, SHA256, hold=True, cannot_check_action=CannotCheckAction.ALLOW).publication == Publication.ALLOWED


def test_a_hold_of_bytes_reinstated_at_this_key_is_exempted_before_the_action_is_asked(audit):
    exempt(audit, ExemptionScope.UPLOAD)

    assert publication(audit, UPLOAD, SHA256, hold=True, cannot_check_action=CannotCheckAction.ALLOW).publication == Publication.EXEMPTED


def test_a_hold_of_a_hash_only_request_has_nothing_to_hold(audit):
    assert publication(audit, Upload("hash-only-1"), SHA256, hold=True).publication == Publication.NOT_AN_OBJECT


def test_a_match_of_a_hash_only_request_is_published(audit):
    # Hash-only requests are matched and published (bucket null); the takedown leaves them alone.
    assert publication(audit, Upload("hash-only-1"), SHA256).publication == Publication.PUBLISH
