"""The use cases' integrity rules: the matcher holds an upload it keeps failing on, a live match keeps its id across a retried
batch, a forged hold is refused and recorded, a hold's restore covers holds only, and which hash-set changes start a retro-match.

The audit trail is the real DynamoDB adapter on moto's in-process mock; the rest are small fakes of the use cases' ports.
"""

from __future__ import annotations

import pytest

from hashmatch.audit import AuditEvent, ExemptionCovers
from hashmatch.aws.hash_set.table import StreamChange
from hashmatch.clock import now
from hashmatch.evidence import Evidence
from hashmatch.messages.building import hold_message, live_match_id
from hashmatch.messages.hashes import HashesMessage, Unchecked
from hashmatch.messages.models import RestoreRequest
from hashmatch.uploads import DIGEST_MAX_BYTES, Upload
from hashmatch.usecases.check_upload import MAX_DELIVERIES, CheckOutcome, Checker, check_upload
from hashmatch.usecases.ports import NoMetrics
from hashmatch.usecases.restore_upload import restore
from hashmatch.usecases.retro_match import retro_match_keys
from hashmatch.usecases.take_down import TakedownOutcome, take_down
from hashmatch.usecases.watch_controls import Control, ControlSettings, controls_off
from hashmatch.vocabulary import CannotCheckAction, CannotCheckReason, TakedownMode
from tests.madehashes import reference_hashes

UPLOAD = Upload.from_object("uploads", "clip.mp4", "v1", etag="e1", size=1000)


class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, **fields):
        self.lines.append(("info", message))

    warning = error = info


class Published:
    def __init__(self):
        self.holds, self.matches = [], []

    def publish_match(self, message):
        self.matches.append(message)
        return "sns-1"

    def publish_hold(self, message):
        self.holds.append(message)
        return "sns-2"


class Broken:
    """A hash set that cannot be loaded (what a matcher meets when everything it needs fails)."""

    source = "snapshot"

    def get(self):
        raise RuntimeError("the hash set cannot be loaded")


def checker(audit, publisher) -> Checker:
    return Checker(Broken(), audit, publisher, upload_log=None, detail_pictures=lambda stored: None, cannot_check_action=CannotCheckAction.HOLD, log=Log(), metrics=NoMetrics())


def hashes_message(upload: Upload = UPLOAD) -> HashesMessage:
    return HashesMessage(upload, reference_hashes(2, 7, role="upload"), now())


# ---------------------------------------------------------------- the matcher's last delivery


def test_a_failure_before_the_last_delivery_fails_the_record_for_the_queue_to_deliver_again(audit):
    with pytest.raises(RuntimeError):
        check_upload(hashes_message(), checker(audit, Published()), receive_count=MAX_DELIVERIES - 1)


def test_on_the_last_delivery_an_upload_the_matcher_keeps_failing_on_is_held_not_dead_lettered(audit):
    published = Published()

    outcome = check_upload(hashes_message(), checker(audit, published), receive_count=MAX_DELIVERIES)

    assert outcome == CheckOutcome.HELD
    [hold] = published.holds
    assert (hold.reason, hold.upload.upload_id) == ("failed", UPLOAD.upload_id)
    assert audit.get(UPLOAD.upload_id, AuditEvent.CANNOT_CHECK)["reason"] == "failed"


def test_the_matchers_last_delivery_is_the_hashes_queues_last_receive():
    from hashmatch_tools.local.template import load_template

    assert MAX_DELIVERIES == load_template()["Resources"]["HashesQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


# ---------------------------------------------------------------- live match ids


def test_a_live_match_id_is_the_upload_and_its_matched_references_whatever_the_hash_set_version():
    assert live_match_id(UPLOAD.upload_id, ["ref-b", "ref-a"]) == live_match_id(UPLOAD.upload_id, ["ref-a", "ref-b"])
    assert live_match_id(UPLOAD.upload_id, ["ref-a"]) != live_match_id(UPLOAD.upload_id, ["ref-a", "ref-b"])
    assert live_match_id(UPLOAD.upload_id, ["ref-a"]) != live_match_id(Upload.from_object("uploads", "clip.mp4", "v2").upload_id, ["ref-a"])


# ---------------------------------------------------------------- forged holds


class Quarantine:
    def __init__(self):
        self.asked = []

    def quarantine(self, upload, match_id, sha256):
        self.asked.append((upload.upload_id, sha256))
        return Evidence("evidence", "k", "ev1", "2027-01-01T00:00:00+00:00")


def unread_hold(size: int):
    upload = Upload.from_object("uploads", "clip.mp4", "v1", etag="e1", size=size)
    request = HashesMessage(upload, None, now(), unchecked=Unchecked(CannotCheckReason.OVERSIZED, "over the limit", ""))
    return hold_message(request, CannotCheckReason.OVERSIZED, "over the limit")


def test_a_hold_without_a_sha256_of_an_object_the_hasher_reads_for_one_is_refused_and_recorded(audit):
    quarantine = Quarantine()

    outcome = take_down(unread_hold(size=1000), TakedownMode.QUARANTINE, quarantine, audit)

    assert outcome == TakedownOutcome.NOT_THE_MATCHED_OBJECT and quarantine.asked == []
    assert "without a SHA-256" in audit.get(UPLOAD.upload_id, AuditEvent.TAKEDOWN_REFUSED)["detail"]


def test_a_hold_without_a_sha256_of_an_object_over_the_digest_limit_is_taken_by_version_etag_and_size(audit):
    quarantine = Quarantine()

    outcome = take_down(unread_hold(size=DIGEST_MAX_BYTES + 1), TakedownMode.QUARANTINE, quarantine, audit)

    assert outcome == TakedownOutcome.HELD and quarantine.asked == [(UPLOAD.upload_id, None)]


# ---------------------------------------------------------------- what a restore's exemption covers


class Restorable:
    def check_restorable(self, upload, evidence, taken_down_at=None):
        return {}

    def restore(self, upload, evidence, taken_down_at=None):
        return Upload.from_object(upload.bucket, upload.key, "restored-1", etag="e-restored", size=3 * 1024**3)


def taken_down(audit, outcome: str, sha256: str) -> None:
    audit.record(UPLOAD.upload_id, AuditEvent.TAKEDOWN, outcome=outcome, bucket="uploads", key="clip.mp4", version_id="v1", sha256=sha256, evidence={"bucket": "evidence", "key": "k", "version_id": "ev1"}, retain_until="2027-01-01T00:00:00+00:00")


def restore_request() -> RestoreRequest:
    return RestoreRequest.from_call({"upload_id": UPLOAD.upload_id, "reason": "complaint upheld"}, "arn:aws:sts::123456789012:assumed-role/restorer/s")


def test_restoring_a_held_upload_exempts_its_bytes_from_holds_only(audit):
    taken_down(audit, "held", "ab" * 32)

    record = restore(restore_request(), Restorable(), audit, 365)

    assert record["exemption"]["covers"] == ExemptionCovers.CANNOT_CHECK.value
    assert audit.exemption("ab" * 32, bucket="uploads", key="clip.mp4") is None
    assert audit.exemption("ab" * 32, bucket="uploads", key="clip.mp4", hold=True) is not None


def test_restoring_a_matched_upload_exempts_its_bytes_from_matches(audit):
    taken_down(audit, "quarantined", "ab" * 32)

    record = restore(restore_request(), Restorable(), audit, 365)

    assert record["exemption"]["covers"] == ExemptionCovers.MATCHES.value
    assert audit.exemption("ab" * 32, bucket="uploads", key="clip.mp4") is not None


def test_restoring_an_upload_held_unread_exempts_the_restored_version_never_the_key(audit):
    taken_down(audit, "held", "")

    record = restore(restore_request(), Restorable(), audit, 365)

    restored = Upload.from_object("uploads", "clip.mp4", "restored-1").upload_id
    assert (record["scope"], record["restored_as"]) == ("version", restored)
    assert audit.exemption("", bucket="uploads", key="clip.mp4", upload_id=restored, etag="e-restored", size=3 * 1024**3, hold=True) is not None
    later = Upload.from_object("uploads", "clip.mp4", "later").upload_id
    assert audit.exemption("", bucket="uploads", key="clip.mp4", upload_id=later, etag="e-later", size=3 * 1024**3, hold=True) is None


# ---------------------------------------------------------------- what starts a retro-match


def test_additions_changes_and_lifted_allow_marks_start_a_retro_match_removals_do_not():
    changes = [
        StreamChange("INSERT", "pdq:aa", False, False),
        StreamChange("MODIFY", "ref-1", False, False),
        StreamChange("REMOVE", "pdq:bb", True, False),  # taken off the allow-list: matches again
        StreamChange("INSERT", "pdq:cc", True, False),  # put on the allow-list: matches nothing more
        StreamChange("REMOVE", "ref-2", False, False),
        StreamChange("MODIFY", "#hash-set", False, True),
    ]

    assert retro_match_keys(changes) == ["pdq:aa", "pdq:bb", "ref-1"]


# ---------------------------------------------------------------- controls


def test_versioning_suspended_or_never_enabled_and_an_evidence_bucket_without_retention_are_controls_off():
    on = ControlSettings("Enabled", "Enabled", {"Mode": "GOVERNANCE", "Days": 183})

    assert controls_off(on) == []
    assert controls_off(ControlSettings("Suspended", "Enabled", on.evidence_lock_retention)) == [Control.UPLOADS_VERSIONING]
    assert controls_off(ControlSettings(None, None, None)) == [Control.UPLOADS_VERSIONING, Control.SNAPSHOT_VERSIONING, Control.EVIDENCE_LOCK]
