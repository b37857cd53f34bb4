"""The review desk's rules: the queue's items, and each decision (confirm, release, false positive, escalate) taken once,
refused when the item changed under the reviewer.

Every collaborator is the real adapter on moto's in-process mock (the review and audit tables, the hash set, the
uploads and evidence buckets as template.yaml defines them: tests/aws_moto.py; the S3 quarantine). The restore URL is stood in for by what the restore function does
with a signed call: the restore use case, with the signer as requested_by.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from tests.aws_moto import REGION, s3_client, template_bucket, template_table
from hashmatch.audit import AuditEvent, ExemptionScope, is_review_event
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.review_table import ReviewTable, take_review_queue
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.messages.models import HoldMessage, MatchMessage, RestoreRequest
from hashmatch.usecases.restore_upload import RestoreAnswer, RestoreOutcome, restore
from hashmatch.usecases.review import Decision, DecisionOutcome, DecisionRequest, ReviewDesk, trail_version
from hashmatch.usecases.review_queue import ItemKind, ItemStatus, QueueFilter, ReviewItem, queue_view, review_message_of
from hashmatch.usecases.take_down import take_down
from hashmatch.vocabulary import TakedownMode

UPLOADS, EVIDENCE = "uploads", "evidence"
REVIEWER = "arn:aws:sts::123456789012:assumed-role/hashmatch-reviewer/alice"
SECOND_REVIEWER = "arn:aws:sts::123456789012:assumed-role/hashmatch-reviewer/bob"
LISTED_PDQ = "f" * 64
SEEN = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


class SignedRestore:
    """What RestoreUploadFunction does with a call signed by `signer`: the restore use case, requested by the signer."""

    def __init__(self, quarantine: Quarantine, audit: AuditTable, signer: str):
        self.quarantine, self.audit, self.signer = quarantine, audit, signer
        self.calls: list[dict] = []

    def restore(self, upload_id: str, reason: str, scope: ExemptionScope) -> RestoreAnswer:
        self.calls.append({"upload_id": upload_id, "scope": scope})
        request = RestoreRequest(upload_id=upload_id, reason=reason, scope=scope.value, requested_by=self.signer)
        try:
            return RestoreAnswer(RestoreOutcome.RESTORED, restore(request, self.quarantine, self.audit, exemption_days=365))
        except Exception as refused:  # the function answers each refusal with its name and reason
            return RestoreAnswer(RestoreOutcome.KEY_OCCUPIED, {"error": type(refused).__name__, "reason": str(refused)})


class World:
    """A stack in small: the uploads and evidence buckets, the tables, and the desk as two reviewers reach it."""

    def __init__(self):
        self.s3 = s3_client()
        template_bucket(self.s3, "UploadsBucket", UPLOADS)
        template_bucket(self.s3, "EvidenceBucket", EVIDENCE)  # versioned, with Object Lock
        self.audit = AuditTable(template_table("AuditTable", "audit"))
        self.items = ReviewTable(template_table("ReviewTable", "review"))
        self.hash_set = HashSetTable(template_table("HashSetTable", "hash-set"))
        self.quarantine = Quarantine(self.s3, EVIDENCE, retention_days=183)
        self.releaser = SignedRestore(self.quarantine, self.audit, REVIEWER)

    def desk(self) -> ReviewDesk:
        return ReviewDesk(self.items, self.audit, self.quarantine, self.releaser, self.hash_set.entries)

    def upload(self, key: str, body: bytes) -> dict:
        answer = self.s3.put_object(Bucket=UPLOADS, Key=key, Body=body)
        return {
            "upload_id": f"s3://{UPLOADS}/{key}?versionId={answer['VersionId']}",
            "bucket": UPLOADS,
            "key": key,
            "version_id": answer["VersionId"],
            "etag": answer["ETag"].strip('"'),
            "size": len(body),
            "uploaded_at": "2026-12-07T08:59:00.000Z",
            "sha256": hashlib.sha256(body).hexdigest(),
            "md5": hashlib.md5(body).hexdigest(),  # noqa: S324 - the upload's MD5, as the hasher reports it
        }

    def online(self, key: str) -> bool:
        return "Contents" in self.s3.list_objects_v2(Bucket=UPLOADS, Prefix=key)

    def evidence_keys(self) -> list[str]:
        return [kept["Key"] for kept in self.s3.list_objects_v2(Bucket=EVIDENCE).get("Contents", [])]

    def decide(self, upload_id: str, decision: Decision, reviewer: str = REVIEWER, version: int | None = None, **options):
        from hashmatch.usecases.review import decide

        seen = trail_version(self.audit.events(upload_id)) if version is None else version
        return decide(DecisionRequest(upload_id, decision, seen, reviewer, **options), self.desk())


@pytest.fixture
def world():
    with mock_aws():
        yield World()


def review_match(upload: dict, reference_id: str = "ref-known-video", *, matched_at: str = "2026-12-07T09:00:00.000+00:00", source: str = "trial list", label: str = "known video") -> MatchMessage:
    return MatchMessage.model_validate_json(
        json.dumps(
            {
                "message_type": "hashmatch.match",
                "message_version": 5,
                "match_id": f"6f2d3c1e-8a4b-5d7e-9f10-{hashlib.sha256((upload['upload_id'] + matched_at).encode()).hexdigest()[:12]}",
                "action": "review",
                "upload": upload,
                "media": {"kind": "image", "format": "jpeg", "duration": 0, "width": 640, "height": 480, "frames_hashed": 1, "usable_frames": 1},
                "matches": [
                    {
                        "reference_id": reference_id,
                        "label": label,
                        "source": source,
                        "action": "review",
                        "signal_type": "pdq",
                        "distance": 6,
                        "inliers": None,
                        "threshold": 31,
                        "query_match_percent": 100.0,
                        "reference_match_percent": 100.0,
                        "matched_query_frames": 1,
                        "query_segments": [[0.0, 0.0]],
                        "reference_segments": [[0.0, 0.0]],
                    }
                ],
                "matches_total": 1,
                "truncated": False,
                "times": {"uploaded_at": upload["uploaded_at"], "hashed_at": matched_at, "matched_at": matched_at},
            }
        )
    )


def hold(upload: dict, *, held_at: str = "2026-12-07T09:00:00.000+00:00") -> HoldMessage:
    return HoldMessage.model_validate_json(
        json.dumps(
            {
                "message_type": "hashmatch.hold",
                "message_version": 1,
                "hold_id": f"9a8b7c6d-5e4f-5a1b-8c2d-{hashlib.sha256(upload['upload_id'].encode()).hexdigest()[:12]}",
                "action": "hold",
                "upload": upload,
                "reason": "corrupt",
                "detail": "damaged or truncated mp4",
                "media_kind": "video",
                "covered_seconds": None,
                "duration": None,
                "times": {"uploaded_at": upload["uploaded_at"], "held_at": held_at},
            }
        )
    )


def queued(world: World, message) -> str:
    """The message as the desk keeps it (the review queue read into the review table); returns the upload id."""
    world.items.add(message)
    return message.upload.upload_id


def held_and_taken_down(world: World, key: str = "clips/held.mp4") -> str:
    """An upload held as uncheckable, quarantined by the takedown as the pipeline does, and queued for review."""
    message = hold(world.upload(key, b"damaged video bytes"))
    take_down(message, TakedownMode.QUARANTINE, world.quarantine, world.audit)
    return queued(world, message)


def review_decisions(world: World, upload_id: str) -> list[dict]:
    return [record for record in world.audit.events(upload_id) if is_review_event(record["event"])]


# ---------------------------------------------------------------- the queue


def test_a_review_message_is_read_from_the_sns_notification_the_queue_delivers(world):
    message = review_match(world.upload("a.jpg", b"a"))
    delivered = json.dumps({"Type": "Notification", "Message": message.model_dump_json()})

    assert review_message_of(delivered) == message


def test_anything_but_a_match_or_hold_message_is_not_a_review_message():
    with pytest.raises(ValueError, match="not a match or hold message"):
        review_message_of(json.dumps({"Type": "Notification", "Message": json.dumps({"message_type": "hashmatch.hashes"})}))


def test_a_message_delivered_twice_is_kept_once(world):
    message = review_match(world.upload("a.jpg", b"a"))

    assert world.items.add(message) is True
    assert world.items.add(message) is False
    assert len(world.items.get(message.upload.upload_id).messages) == 1


def test_a_hold_and_a_review_match_of_one_upload_are_one_item(world):
    upload = world.upload("clips/partial.mp4", b"long video")
    world.items.add(review_match(upload))
    world.items.add(hold(upload, held_at="2026-12-07T09:00:01.000+00:00"))

    (item,) = list(world.items.all())

    assert set(item.kinds) == {ItemKind.HELD, ItemKind.REVIEW_MATCH}


def test_reading_the_review_queue_keeps_each_message_once_and_empties_the_queue(world):
    sqs = boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="review")["QueueUrl"]
    message = review_match(world.upload("a.jpg", b"a"))
    for _ in range(2):  # SNS delivers at least once
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Type": "Notification", "Message": message.model_dump_json()}))

    read = take_review_queue(sqs, queue, world.items)

    assert read == {"kept": 1, "again": 1, "unreadable": 0}
    assert sqs.receive_message(QueueUrl=queue).get("Messages") is None


def test_the_queue_lists_open_items_oldest_first_with_the_time_left_against_one_hour(world):
    late = review_match(world.upload("late.jpg", b"late"), matched_at="2026-12-07T09:20:00.000+00:00")
    early = hold(world.upload("early.mp4", b"early"), held_at="2026-12-07T07:50:00.000+00:00")
    for message in (late, early):
        world.items.add(message)

    view = queue_view(world.items.all(), QueueFilter(), SEEN)

    assert [item.upload_id for item in view.items] == [early.upload.upload_id, late.upload.upload_id]
    assert [item.seconds_left(SEEN) for item in view.items] == [-10 * 60, 80 * 60]
    assert (view.open, view.overdue, view.by_kind) == (2, 1, {"held": 1, "review-match": 1})


def test_the_queue_filters_by_source(world):
    world.items.add(review_match(world.upload("a.jpg", b"a"), source="partner list"))
    world.items.add(review_match(world.upload("b.jpg", b"b"), source="trial list"))

    view = queue_view(world.items.all(), QueueFilter(source="partner list"), SEEN)

    assert [item.sources for item in view.items] == [("partner list",)]


# ---------------------------------------------------------------- decisions


def test_confirming_a_review_match_takes_the_upload_down_into_evidence(world):
    upload_id = queued(world, review_match(world.upload("a.jpg", b"matched bytes")))

    answer = world.decide(upload_id, Decision.CONFIRM)

    assert answer.outcome == DecisionOutcome.DECIDED
    assert not world.online("a.jpg")
    assert world.audit.get(upload_id, AuditEvent.TAKEDOWN)["outcome"] == "quarantined"
    assert world.items.get(upload_id).status == ItemStatus.DECIDED


def test_a_decision_is_recorded_under_the_reviewers_identity(world):
    upload_id = queued(world, review_match(world.upload("a.jpg", b"a")))

    world.decide(upload_id, Decision.CONFIRM, note="the known video, clearly")

    (record,) = review_decisions(world, upload_id)
    assert (record["decision"], record["reviewer"], record["note"]) == ("confirm", REVIEWER, "the known video, clearly")


def test_confirming_a_held_upload_keeps_it_in_evidence_without_a_second_copy(world):
    upload_id = held_and_taken_down(world)
    kept = world.evidence_keys()

    answer = world.decide(upload_id, Decision.CONFIRM)

    assert answer.outcome == DecisionOutcome.DECIDED
    assert world.evidence_keys() == kept and not world.online("clips/held.mp4")


def test_releasing_a_held_upload_restores_it_through_the_restore_url_as_the_reviewer(world):
    upload_id = held_and_taken_down(world)

    answer = world.decide(upload_id, Decision.RELEASE, note="a home video, not the known one", scope=ExemptionScope.UPLOAD)

    assert answer.outcome == DecisionOutcome.DECIDED
    assert world.online("clips/held.mp4")
    restored = world.audit.get(upload_id, AuditEvent.RESTORED)
    assert restored["requested_by"] == REVIEWER and restored["scope"] == "upload"


def test_releasing_a_review_match_leaves_it_online_and_asks_no_restore(world):
    upload_id = queued(world, review_match(world.upload("a.jpg", b"a")))

    answer = world.decide(upload_id, Decision.RELEASE)

    assert answer.outcome == DecisionOutcome.DECIDED and world.online("a.jpg")
    assert world.releaser.calls == []


def test_a_release_the_takedown_has_not_acted_on_yet_is_not_taken(world):
    upload_id = queued(world, hold(world.upload("clips/held.mp4", b"damaged")))

    answer = world.decide(upload_id, Decision.RELEASE)

    assert answer.outcome == DecisionOutcome.NOT_APPLICABLE and "takedown has not acted" in answer.detail


def test_a_false_positive_of_a_listed_hash_puts_it_on_the_allow_list(world):
    world.hash_set.entries.add(HashListEntry(signal_type="pdq", hash=LISTED_PDQ, labels=("tve",), source="partner list"))
    upload_id = queued(world, review_match(world.upload("a.jpg", b"a"), reference_id=f"pdq:{LISTED_PDQ}", source="partner list"))

    answer = world.decide(upload_id, Decision.FALSE_POSITIVE, note="a cat")

    allowed = world.hash_set.entries.get("pdq", LISTED_PDQ).allowed
    assert answer.outcome == DecisionOutcome.DECIDED
    assert allowed["allowed_by"] == REVIEWER and "partner list" in allowed["reason"]
    assert world.online("a.jpg")


def test_a_false_positive_of_known_media_exempts_these_bytes_everywhere_and_keeps_the_reference(world):
    upload = world.upload("a.jpg", b"not the known picture")
    upload_id = queued(world, review_match(upload))

    world.decide(upload_id, Decision.FALSE_POSITIVE)

    exemption = world.audit.exemption(upload["sha256"], bucket="elsewhere", key="another/copy.jpg")
    assert exemption is not None and exemption["scope"] == "bytes" and exemption["requested_by"] == REVIEWER


def test_a_false_positive_is_not_a_decision_for_a_hold_nothing_matched(world):
    upload_id = held_and_taken_down(world)

    answer = world.decide(upload_id, Decision.FALSE_POSITIVE)

    assert answer.outcome == DecisionOutcome.NOT_APPLICABLE
    assert review_decisions(world, upload_id) == []


def test_an_escalated_item_stays_open_and_a_later_decision_is_taken_on_it(world):
    upload_id = queued(world, review_match(world.upload("a.jpg", b"a")))

    world.decide(upload_id, Decision.ESCALATE, note="for legal")
    escalated = world.items.get(upload_id).status
    answer = world.decide(upload_id, Decision.CONFIRM, reviewer=SECOND_REVIEWER)

    assert escalated == ItemStatus.ESCALATED
    assert answer.outcome == DecisionOutcome.DECIDED and not world.online("a.jpg")


def test_the_same_decision_sent_twice_is_carried_out_once(world):
    upload_id = held_and_taken_down(world)
    seen = trail_version(world.audit.events(upload_id))

    first = world.decide(upload_id, Decision.RELEASE, version=seen)
    again = world.decide(upload_id, Decision.RELEASE, version=seen)

    assert (first.outcome, again.outcome) == (DecisionOutcome.DECIDED, DecisionOutcome.ALREADY_DECIDED)
    assert len(review_decisions(world, upload_id)) == 1
    versions = world.s3.list_object_versions(Bucket=UPLOADS, Prefix="clips/held.mp4").get("Versions", [])
    assert len(versions) == 1  # restored once (the takedown removed the held version itself)


def test_a_second_reviewer_who_saw_the_same_item_is_refused_and_told_who_decided(world):
    upload_id = queued(world, review_match(world.upload("a.jpg", b"a")))
    seen = trail_version(world.audit.events(upload_id))

    world.decide(upload_id, Decision.CONFIRM, version=seen)
    late = world.decide(upload_id, Decision.RELEASE, reviewer=SECOND_REVIEWER, version=seen)

    assert late.outcome == DecisionOutcome.STALE and REVIEWER in late.detail and "confirm" in late.detail
    assert not world.online("a.jpg")


def test_a_decision_on_an_item_whose_trail_changed_since_is_refused(world):
    message = review_match(world.upload("a.jpg", b"a"))
    upload_id = queued(world, message)
    seen = trail_version(world.audit.events(upload_id))
    world.audit.record(upload_id, AuditEvent.MATCHED, match_id=message.match_id, action="review")  # the pipeline wrote since

    answer = world.decide(upload_id, Decision.RELEASE, version=seen)

    assert answer.outcome == DecisionOutcome.STALE and "matched" in answer.detail
    assert review_decisions(world, upload_id) == []


def test_a_refused_restore_leaves_the_item_open_and_sending_it_again_finishes_it(world):
    upload_id = held_and_taken_down(world)
    seen = trail_version(world.audit.events(upload_id))
    newer = world.s3.put_object(Bucket=UPLOADS, Key="clips/held.mp4", Body=b"uploaded since the takedown")

    refused = world.decide(upload_id, Decision.RELEASE, version=seen)
    world.s3.delete_object(Bucket=UPLOADS, Key="clips/held.mp4", VersionId=newer["VersionId"])
    retried = world.decide(upload_id, Decision.RELEASE, version=seen)

    assert refused.outcome == DecisionOutcome.FAILED and "KeyOccupied" in str(refused.done)
    assert retried.outcome == DecisionOutcome.ALREADY_DECIDED and world.online("clips/held.mp4")
    assert world.items.get(upload_id).status == ItemStatus.DECIDED


def test_an_item_decided_comes_back_when_a_new_message_about_its_upload_arrives(world):
    upload = world.upload("a.jpg", b"a")
    upload_id = queued(world, review_match(upload))
    world.decide(upload_id, Decision.RELEASE)

    world.items.add(review_match(upload, matched_at="2026-12-07T10:00:00.000+00:00"))

    assert world.items.get(upload_id).status == ItemStatus.OPEN


def test_an_item_is_due_one_hour_after_the_match_was_published():
    item = ReviewItem.of([hold({"upload_id": "s3://u/k?versionId=1", "bucket": "u", "key": "k", "version_id": "1", "etag": "e", "size": 1, "uploaded_at": None, "sha256": "", "md5": ""}, held_at="2026-12-07T09:00:00.000+00:00")])

    assert item.due_at == datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc) and item.seconds_left(SEEN + timedelta(minutes=45)) == 15 * 60
