"""The audit table: each upload's events written once, read back in full, and exemptions by content."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from tests.aws_moto import page_size, template_table
from hashmatch.aws.audit_table import AuditTable

UPLOAD = "s3://uploads/a.jpg?versionId=v1"
SHA256 = "ef" * 32


@pytest.fixture
def table(aws):
    return page_size(template_table("AuditTable", "audit"), 2)


@pytest.fixture
def audit(table) -> AuditTable:
    return AuditTable(table)


def test_a_record_reads_back_with_its_details_and_time(audit):
    assert audit.record(UPLOAD, "rejected", reason="corrupt", seconds=0.25)

    record = audit.get(UPLOAD, "rejected")

    assert record["reason"] == "corrupt"
    assert record["seconds"] == 0.25
    assert record["recorded_at"].endswith("+00:00")


def test_a_redelivered_event_is_not_written_again(audit):
    audit.record(UPLOAD, "takedown", outcome="quarantined", match_id="first")

    assert audit.record(UPLOAD, "takedown", outcome="quarantined", match_id="redelivery") is False
    assert audit.get(UPLOAD, "takedown")["match_id"] == "first"


def test_one_upload_can_have_different_events(audit):
    audit.record(UPLOAD, "takedown", outcome="quarantined")

    assert audit.record(UPLOAD, "restored", version_id="v2")


def test_an_unknown_event_is_refused(audit):
    with pytest.raises(ValueError, match="unknown audit event"):
        audit.record(UPLOAD, "deleted")


def test_details_left_none_are_not_stored(audit):
    audit.record(UPLOAD, "gone", reason=None)

    assert "reason" not in audit.get(UPLOAD, "gone")


def test_an_event_never_recorded_is_none(audit):
    assert audit.get(UPLOAD, "takedown") is None


def test_events_lists_every_event_of_the_upload_across_pages_and_no_others(audit):
    for event in ("rejected", "gone", "exempted", "takedown", "review"):
        audit.record(UPLOAD, event)
    audit.record("s3://uploads/other.jpg", "takedown")

    assert sorted(record["event"] for record in audit.events(UPLOAD)) == ["exempted", "gone", "rejected", "review", "takedown"]


def test_an_exemption_reads_back_by_the_content_hash(audit):
    assert audit.exempt(SHA256, reinstated=UPLOAD, reason="news report", requested_by="moderator-7")

    exemption = audit.exemption(SHA256)

    assert (exemption["sha256"], exemption["reinstated"], exemption["reason"], exemption["requested_by"]) == (SHA256, UPLOAD, "news report", "moderator-7")


def test_bytes_never_exempted_have_no_exemption(audit):
    assert audit.exemption(SHA256) is None


def test_a_throttled_write_propagates_instead_of_counting_as_a_redelivery(table):
    # moto never throttles: botocore's Stubber answers in its place.
    with Stubber(table.meta.client) as stub:
        stub.add_client_error("put_item", service_error_code="ProvisionedThroughputExceededException", http_status_code=400)

        with pytest.raises(ClientError) as raised:
            AuditTable(table).record(UPLOAD, "takedown", outcome="quarantined")

    assert raised.value.response["Error"]["Code"] == "ProvisionedThroughputExceededException"


def test_a_conditional_check_failure_from_dynamodb_itself_reads_as_a_redelivery(table):
    # Another writer's record, put straight into the table: DynamoDB's own condition refuses the second.
    table.put_item(Item={"upload_id": UPLOAD, "event": "takedown", "outcome": "quarantined", "match_id": "another writer's"})

    assert AuditTable(table).record(UPLOAD, "takedown", outcome="quarantined") is False
    assert AuditTable(table).get(UPLOAD, "takedown")["match_id"] == "another writer's"


def test_an_exemption_is_in_force_until_it_expires(audit):
    audit.exempt(SHA256, reinstated=UPLOAD, reason="complaint upheld", requested_by="reviewer", expires_at="2027-01-01T00:00:00.000+00:00")

    assert audit.exemption(SHA256, at="2026-12-31T23:59:59.000+00:00")["reinstated"] == UPLOAD
    assert audit.exemption(SHA256, at="2027-01-01T00:00:00.000+00:00") is None


def test_a_revoked_exemption_is_no_longer_in_force(audit):
    audit.exempt(SHA256, reinstated=UPLOAD, reason="complaint upheld", requested_by="reviewer")

    assert audit.revoke_exemption(SHA256, reason="the complaint was fraudulent", requested_by="lead")

    assert audit.exemption(SHA256) is None
    assert audit.get(f"sha256:{SHA256}", "exemption-revoked")["reason"] == "the complaint was fraudulent"


def exempt_upload(audit: AuditTable, bucket: str = "uploads", key: str = "a.jpg") -> bool:
    return audit.exempt(SHA256, scope="upload", bucket=bucket, key=key, reinstated=UPLOAD, reason="complaint upheld", requested_by="arn:aws:sts::123456789012:assumed-role/restorer/r")


def test_an_upload_scoped_exemption_covers_its_bytes_at_its_own_key(audit):
    exempt_upload(audit)

    exemption = audit.exemption(SHA256, bucket="uploads", key="a.jpg")

    assert (exemption["scope"], exemption["bucket"], exemption["key"]) == ("upload", "uploads", "a.jpg")


def test_an_upload_scoped_exemption_does_not_cover_the_same_bytes_at_another_key(audit):
    exempt_upload(audit)

    assert audit.exemption(SHA256, bucket="uploads", key="someone else's.jpg") is None


def test_an_upload_scoped_exemption_does_not_cover_bytes_whose_place_is_not_given(audit):
    exempt_upload(audit)

    assert audit.exemption(SHA256) is None


def test_a_bytes_scoped_exemption_covers_the_bytes_at_any_key(audit):
    audit.exempt(SHA256, scope="bytes", reinstated=UPLOAD, reason="lawful", requested_by="reviewer")

    assert audit.exemption(SHA256, bucket="uploads", key="anyone's.jpg")["scope"] == "bytes"


def test_revoking_an_upload_scoped_exemption_leaves_one_at_another_key(audit):
    exempt_upload(audit, key="a.jpg")
    exempt_upload(audit, key="b.jpg")

    audit.revoke_exemption(SHA256, bucket="uploads", key="a.jpg", reason="fraudulent complaint", requested_by="lead")

    assert audit.exemption(SHA256, bucket="uploads", key="a.jpg") is None
    assert audit.exemption(SHA256, bucket="uploads", key="b.jpg")["key"] == "b.jpg"


def test_an_upload_scoped_exemption_without_its_key_is_refused(audit):
    with pytest.raises(ValueError, match="bucket and key"):
        audit.exempt(SHA256, scope="upload", bucket="uploads", reinstated=UPLOAD, reason="complaint upheld", requested_by="reviewer")


def test_an_empty_digest_is_never_exempted_by_bytes_or_by_key(audit):
    # An upload held unread (too large for its digest) has sha256 "": a bytes-wide exemption of "" would cover them all, and one
    # at its key every later object too large to read there.
    for scope in ("bytes", "upload"):
        with pytest.raises(ValueError, match="by version"):
            audit.exempt("", reinstated="s3://uploads/a.mp4?versionId=1", reason="reviewed", requested_by="ops", scope=scope, bucket="uploads", key="a.mp4")


def test_an_unread_upload_is_exempted_by_its_version_etag_and_size_only(audit):
    restored = {"upload_id": "s3://uploads/a.mp4?versionId=2", "etag": "e-2", "size": 3_000_000_000}
    audit.exempt("", scope="version", covers="cannot-check", bucket="uploads", key="a.mp4", version=restored, reinstated="s3://uploads/a.mp4?versionId=1", reason="reviewed", requested_by="ops")

    same = {"bucket": "uploads", "key": "a.mp4", "upload_id": restored["upload_id"], "etag": "e-2", "size": 3_000_000_000, "hold": True}
    assert audit.exemption("", **same)["scope"] == "version"
    assert audit.exemption("", **{**same, "upload_id": "s3://uploads/a.mp4?versionId=3"}) is None  # a later object at the key
    assert audit.exemption("", **{**same, "etag": "e-other"}) is None
    assert audit.exemption("", **{**same, "hold": False}) is None  # a hold's restore covers holds only
