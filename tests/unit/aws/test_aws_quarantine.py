"""Quarantine and restore: a matched upload moves into the evidence bucket once, and back after a complaint."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from tests.aws_moto import s3_client, template_bucket, versions
from hashmatch.aws.quarantine import Quarantine
from hashmatch.evidence import Evidence, KeyOccupied, NotTheMatchedObject, evidence_key
from hashmatch.uploads import Upload, UploadGone

UPLOADS, EVIDENCE = "uploads", "evidence"


@pytest.fixture
def s3(aws):
    client = s3_client()
    template_bucket(client, "UploadsBucket", UPLOADS)
    template_bucket(client, "EvidenceBucket", EVIDENCE)  # versioned, with Object Lock
    return client


@pytest.fixture
def quarantine(s3) -> Quarantine:
    return Quarantine(s3, EVIDENCE, retention_days=183)


def uploaded(s3, key: str, body: bytes, content_type: str = "video/mp4") -> Upload:
    answer = s3.put_object(Bucket=UPLOADS, Key=key, Body=body, ContentType=content_type)
    return Upload.from_object(UPLOADS, key, answer["VersionId"], etag=answer["ETag"].strip('"'), size=len(body))


def sha256_of(s3, upload: Upload) -> str:
    """What the hasher recorded: the SHA-256 of the version's bytes."""
    return hashlib.sha256(s3.get_object(**upload.address)["Body"].read()).hexdigest()


def live_versions(s3, key: str) -> list[str]:
    return versions(s3, UPLOADS, key)


def test_quarantine_keeps_the_matched_bytes_in_the_evidence_bucket(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched bytes")

    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    kept = s3.get_object(Bucket=evidence.bucket, Key=evidence.key, VersionId=evidence.version_id)
    assert kept["Body"].read() == b"matched bytes"
    assert kept["ContentType"] == "video/mp4"
    assert kept["Metadata"] == {
        "upload-bucket": UPLOADS, "upload-key": "clip.mp4", "upload-version-id": upload.version_id, "match-id": "match-1",
        "uploader": "-", "uploader-ip": "-", "upload-request-id": "-",
    }


def test_the_evidence_object_names_who_uploaded_it(s3, quarantine):
    upload = replace(uploaded(s3, "clip.mp4", b"matched bytes"), uploader="AWS:AROAEXAMPLE:platform-backend", source_ip="198.51.100.7", request_id="C3D13FE58DE4C810")

    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    metadata = s3.head_object(Bucket=evidence.bucket, Key=evidence.key, VersionId=evidence.version_id)["Metadata"]
    assert (metadata["uploader"], metadata["uploader-ip"], metadata["upload-request-id"]) == ("AWS:AROAEXAMPLE:platform-backend", "198.51.100.7", "C3D13FE58DE4C810")


def test_evidence_is_kept_as_an_open_case_until_closed(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched bytes")
    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))
    address = {"Bucket": evidence.bucket, "Key": evidence.key, "VersionId": evidence.version_id}
    opened = s3.get_object_tagging(**address)["TagSet"]

    quarantine.close_case(evidence)

    assert opened == [{"Key": "hashmatch-case", "Value": "open"}]
    assert s3.get_object_tagging(**address)["TagSet"] == [{"Key": "hashmatch-case", "Value": "closed"}]


def test_quarantine_removes_exactly_the_matched_version(s3, quarantine):
    older = uploaded(s3, "clip.mp4", b"older, unmatched")
    matched = uploaded(s3, "clip.mp4", b"matched")

    quarantine.quarantine(matched, "match-1", sha256_of(s3, matched))

    assert live_versions(s3, "clip.mp4") == [older.version_id]


def test_evidence_keys_of_two_versions_of_one_key_differ(s3):
    first, second = uploaded(s3, "clip.mp4", b"one"), uploaded(s3, "clip.mp4", b"two")

    assert evidence_key(first) != evidence_key(second)


def test_a_key_outside_ascii_is_kept_url_encoded_in_the_evidence_metadata(s3, quarantine):
    upload = uploaded(s3, "clips/café 1.mp4", b"bytes")

    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    assert s3.head_object(Bucket=EVIDENCE, Key=evidence.key)["Metadata"]["upload-key"] == "clips/caf%C3%A9%201.mp4"


def test_a_redelivered_quarantine_does_not_copy_again(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched")
    digest = sha256_of(s3, upload)
    first = quarantine.quarantine(upload, "match-1", digest)

    again = quarantine.quarantine(upload, "match-1", digest)

    assert (again.bucket, again.key, again.version_id) == (first.bucket, first.key, first.version_id)
    assert len(versions(s3, EVIDENCE, first.key)) == 1


def test_a_quarantine_interrupted_after_the_copy_finishes_by_removing_the_upload(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched")
    s3.copy_object(Bucket=EVIDENCE, Key=evidence_key(upload), CopySource=upload.address)

    quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    assert live_versions(s3, "clip.mp4") == []
    assert len(versions(s3, EVIDENCE, evidence_key(upload))) == 1


def test_evidence_is_retained_for_the_retention_period_from_when_it_was_kept(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched")

    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    kept_at = s3.head_object(Bucket=EVIDENCE, Key=evidence.key)["LastModified"]
    assert abs(datetime.fromisoformat(evidence.retain_until) - (kept_at + timedelta(days=183))) <= timedelta(seconds=2)


def test_an_upload_neither_in_its_bucket_nor_in_evidence_is_gone(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched")
    digest = sha256_of(s3, upload)
    s3.delete_object(**upload.address)

    with pytest.raises(UploadGone):
        quarantine.quarantine(upload, "match-1", digest)


def test_restore_puts_the_kept_bytes_back_as_a_new_version(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"wrongly matched", content_type="video/mp4")
    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    restored = quarantine.restore(upload, evidence)

    current = s3.get_object(Bucket=UPLOADS, Key="clip.mp4")
    assert current["VersionId"] == restored.version_id != upload.version_id
    assert (restored.etag, restored.size) == (current["ETag"].strip('"'), len(b"wrongly matched"))
    assert current["Body"].read() == b"wrongly matched"
    assert current["ContentType"] == "video/mp4"


def test_restore_leaves_the_evidence_in_place(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"bytes")
    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))

    quarantine.restore(upload, evidence)

    assert s3.head_object(Bucket=EVIDENCE, Key=evidence.key, VersionId=evidence.version_id)["ContentLength"] == 5


def test_restoring_evidence_that_is_no_longer_kept_is_gone(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"bytes")
    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))
    s3.delete_object(Bucket=EVIDENCE, Key=evidence.key, VersionId=evidence.version_id)

    with pytest.raises(UploadGone):
        quarantine.restore(upload, evidence)


def test_restoring_evidence_never_kept_is_gone(quarantine):
    upload = Upload.from_object(UPLOADS, "clip.mp4", "v1")

    with pytest.raises(UploadGone):
        quarantine.restore(upload, Evidence(EVIDENCE, evidence_key(upload), "v9", "2026-01-01T00:00:00+00:00"))


@pytest.mark.parametrize(
    "named, why",
    [
        (lambda upload: replace(upload, version_id=None), "names no version"),
        (lambda upload: replace(upload, etag="0" * 32), "ETag"),
        (lambda upload: replace(upload, size=upload.size + 1), "bytes, not the hashed object's"),
    ],
    ids=["no version", "another ETag", "another size"],
)
def test_an_object_not_shown_to_be_the_one_hashed_is_neither_copied_nor_removed(s3, quarantine, named, why):
    upload = uploaded(s3, "clip.mp4", b"matched")

    with pytest.raises(NotTheMatchedObject, match=why):
        quarantine.quarantine(named(upload), "match-1", sha256_of(s3, upload))

    assert live_versions(s3, "clip.mp4") == [upload.version_id]
    assert versions(s3, EVIDENCE, evidence_key(upload)) == []


def test_a_message_whose_sha256_is_not_the_objects_removes_nothing(s3, quarantine):
    # A forged message: the right version, ETag and size of somebody's upload, with the digest of known content.
    upload = uploaded(s3, "someone else's clip.mp4", b"innocent bytes")

    with pytest.raises(NotTheMatchedObject, match="SHA-256"):
        quarantine.quarantine(upload, "match-1", hashlib.sha256(b"known content").hexdigest())

    assert live_versions(s3, "someone else's clip.mp4") == [upload.version_id]
    assert versions(s3, EVIDENCE, evidence_key(upload)) == []


def test_a_message_without_a_sha256_removes_nothing(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"matched")

    with pytest.raises(NotTheMatchedObject, match="no SHA-256"):
        quarantine.quarantine(upload, "match-1", "")

    assert live_versions(s3, "clip.mp4") == [upload.version_id]


def test_restore_never_overwrites_an_object_uploaded_to_the_key_since(s3, quarantine):
    upload = uploaded(s3, "clip.mp4", b"wrongly matched")
    evidence = quarantine.quarantine(upload, "match-1", sha256_of(s3, upload))
    newer = uploaded(s3, "clip.mp4", b"the uploader's new file")

    with pytest.raises(KeyOccupied):
        quarantine.restore(upload, evidence)

    assert live_versions(s3, "clip.mp4") == [newer.version_id]


def test_restore_puts_back_over_an_older_version_that_became_current_when_the_matched_one_was_removed(s3, quarantine):
    older = uploaded(s3, "clip.mp4", b"an older upload of the key")
    matched = uploaded(s3, "clip.mp4", b"wrongly matched")
    evidence = quarantine.quarantine(matched, "match-1", sha256_of(s3, matched))
    taken_down_at = datetime.now(timezone.utc) + timedelta(seconds=1)

    restored = quarantine.restore(matched, evidence, taken_down_at)

    assert live_versions(s3, "clip.mp4") == [older.version_id, restored.version_id]
