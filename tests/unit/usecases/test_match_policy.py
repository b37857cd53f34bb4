"""Each source's policy and flood protection (usecases/match_policy.py), over matches the real Matcher makes of made hashes.

The policy's store is the real DynamoDB adapter (aws/match_policy.py) on moto's in-process mock, the table as
template.yaml makes MatchPolicyTable (tests/aws_moto.py); the clock is fixed so that windows are the test's to choose.
"""

from __future__ import annotations

import hashlib

from datetime import datetime, timedelta, timezone

import pytest
from moto import mock_aws

from hashmatch.aws.match_policy import MatchPolicyTable
from hashmatch.clock import Clock
from hashmatch.hash_set.snapshot import ENTRY_KIND, HashSetSnapshot, HashSetView, KnownItem, KnownItemState
from hashmatch.matching.assembly import HashSetVersion, hash_set_matcher
from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.uploads import Upload
from hashmatch.usecases.check_upload import Publication, match_publication
from hashmatch.usecases.match_policy import FloodLimit, SourcePolicy, by_source_policy, flood_guarded
from hashmatch.vocabulary import Action, MediaKind, Role
from hashmatch_tools.evaluation.pipeline import MemoryAuditTrail
from tests.aws_moto import template_table

LISTED = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def flipped(hex_hash: str, bits: int) -> str:
    """The hash with its first `bits` bits flipped: exactly that many bits away."""
    value = int(hex_hash, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


def picture(pdq: str) -> MediaHashes:
    return MediaHashes(kind=MediaKind.IMAGE, format="png", width=64, height=64, duration=0.0, md5="", sha256=hashlib.sha256(pdq.encode()).hexdigest(), role=Role.UPLOAD, frames=(FrameHashes(0.0, pdq, 100),))


def listed(sources: str, action: Action = Action.QUARANTINE) -> HashSetVersion:
    view = HashSetView(HashSetSnapshot.of_states([KnownItemState(KnownItem(f"pdq:{LISTED}", ("christchurch",), sources, ENTRY_KIND, action=action))]))
    return HashSetVersion(view, hash_set_matcher(view, 31), 1)


class FixedClock(Clock):
    def __init__(self, moment: datetime):
        self.moment = moment

    def utc(self) -> datetime:
        return self.moment


@pytest.fixture(scope="module")
def dynamodb():
    with mock_aws():
        yield


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 12, 7, 10, 0, tzinfo=timezone.utc))


@pytest.fixture
def alarms():
    return []


@pytest.fixture
def policy(dynamodb, request, clock, alarms):
    table = template_table("MatchPolicyTable", f"policy-{request.node.name[:150]}".replace("[", "-").replace("]", ""))
    return MatchPolicyTable(table, flood_limit=FloodLimit(3, 60), alarm=lambda subject, notice: alarms.append((subject, notice)), clock=clock)


def matches_of(version: HashSetVersion, upload: MediaHashes, policy) -> list:
    result, found = version.match(upload)
    return by_source_policy(found, policy, result, upload)


# ---------------------------------------------------------------- a source's PDQ distance and action


def test_a_source_without_a_policy_keeps_the_deployments_threshold(policy):
    assert len(matches_of(listed("gifct"), picture(flipped(LISTED, 20)), policy)) == 1


def test_a_match_beyond_the_sources_pdq_distance_is_dropped(policy):
    policy.set_policy(SourcePolicy("gifct", pdq_distance=10), "test")
    assert matches_of(listed("gifct"), picture(flipped(LISTED, 11)), policy) == []


def test_a_match_at_the_sources_pdq_distance_is_kept(policy):
    policy.set_policy(SourcePolicy("gifct", pdq_distance=10), "test")
    [match] = matches_of(listed("gifct"), picture(flipped(LISTED, 10)), policy)
    assert match.verdict.best_distance == 10


def test_a_sources_action_replaces_the_stored_one(policy):
    policy.set_policy(SourcePolicy("gifct", action=Action.REVIEW), "test")
    [match] = matches_of(listed("gifct", Action.QUARANTINE), picture(LISTED), policy)
    assert match.item.action == Action.REVIEW


def test_an_item_two_sources_list_is_kept_by_the_one_whose_distance_accepts_it_with_its_action(policy):
    policy.set_policy(SourcePolicy("strict", action=Action.QUARANTINE, pdq_distance=4), "test")
    policy.set_policy(SourcePolicy("lenient", action=Action.REVIEW, pdq_distance=20), "test")
    [match] = matches_of(listed("lenient, strict"), picture(flipped(LISTED, 12)), policy)
    assert match.item.action == Action.REVIEW


def test_an_item_two_sources_accept_takes_the_strongest_action(policy):
    policy.set_policy(SourcePolicy("strict", action=Action.QUARANTINE, pdq_distance=4), "test")
    policy.set_policy(SourcePolicy("lenient", action=Action.REVIEW, pdq_distance=20), "test")
    [match] = matches_of(listed("lenient, strict"), picture(flipped(LISTED, 2)), policy)
    assert match.item.action == Action.QUARANTINE


def test_a_pdq_distance_above_31_is_refused(policy):
    with pytest.raises(ValueError, match="0 to 31"):
        policy.set_policy(SourcePolicy("gifct", pdq_distance=32), "test")


# ---------------------------------------------------------------- flood protection


def flood(policy, uploads: range, version: HashSetVersion | None = None) -> list:
    version = version or listed("gifct")
    published = []
    for n in uploads:
        matches, switched = flood_guarded(matches_of(version, picture(LISTED), policy), f"s3://uploads/u{n}.png?versionId=1", policy)
        published.append((matches[0].item.action, switched))
    return published


def test_an_item_matching_up_to_the_limit_keeps_its_action(policy):
    assert [action for action, _ in flood(policy, range(3))] == [Action.QUARANTINE] * 3


def test_the_match_past_the_limit_switches_the_item_to_review_and_raises_the_alarm_once(policy, alarms):
    published = flood(policy, range(5))
    assert [action for action, _ in published] == [Action.QUARANTINE] * 3 + [Action.REVIEW] * 2
    assert [len(switched) for _, switched in published] == [0, 0, 0, 1, 0]
    assert len(alarms) == 1 and alarms[0][1]["key"] == f"pdq:{LISTED}" and alarms[0][1]["matches"] == 4


def test_the_operator_sees_which_item_switched_and_why(policy):
    flood(policy, range(4))
    [switched] = policy.floods()
    assert (switched["key"], switched["source"], switched["matches"], switched["labels"]) == (f"pdq:{LISTED}", "gifct", 4, ["christchurch"])
    assert switched["reason"] == "matched 4 uploads within 60 minutes, more than 3: its matches recommend review until an operator confirms it"


def test_a_redelivered_upload_counts_once(policy):
    assert [action for action, _ in flood(policy, [1, 1, 1, 1, 2])] == [Action.QUARANTINE] * 5


def test_a_switched_item_stays_in_review_in_later_windows(policy, clock):
    flood(policy, range(4))
    clock.moment += timedelta(hours=5)
    assert [action for action, _ in flood(policy, range(10, 11))] == [Action.REVIEW]


def test_a_confirmed_item_recommends_its_own_action_and_is_not_switched_again(policy, alarms):
    flood(policy, range(4))
    assert policy.confirm(f"pdq:{LISTED}", "operator", "the livestream: a real wave")
    assert [action for action, _ in flood(policy, range(4, 12))] == [Action.QUARANTINE] * 8 and len(alarms) == 1


def test_counts_start_again_in_a_new_window(policy, clock):
    flood(policy, range(3))
    clock.moment += timedelta(minutes=61)
    assert [action for action, _ in flood(policy, range(3, 6))] == [Action.QUARANTINE] * 3


def test_confirming_an_item_never_switched_is_refused(policy):
    assert not policy.confirm(f"pdq:{LISTED}", "operator", "why not")


def test_uploads_an_item_matched_are_counted_for_feedback(policy):
    flood(policy, [1, 1, 2, 3])
    assert policy.uploads_matched(f"pdq:{LISTED}") == 3


# ---------------------------------------------------------------- composed with the publication rule (check_upload.match_publication)


class RefusingTrail(MemoryAuditTrail):
    def exemption(self, sha256, at=None, *, bucket=None, key=None):
        raise AssertionError("the audit trail was asked about an upload with no match")


def decided(version: HashSetVersion, pdq: str, policy, trail, n: int):
    upload = Upload.from_object("uploads", f"u{n}.png", "1")
    hashes = picture(pdq)
    result, found = version.match(hashes)
    return match_publication(trail, upload, hashes.sha256, found, policy, result=result, hashes=hashes)


def test_matches_no_source_accepts_are_no_match_without_asking_the_trail(policy):
    policy.set_policy(SourcePolicy("gifct", pdq_distance=10), "test")
    assert decided(listed("gifct"), flipped(LISTED, 11), policy, RefusingTrail(), 1).publication == Publication.NO_MATCH


def test_uploads_the_rule_leaves_alone_count_against_no_item(policy):
    trail = MemoryAuditTrail()
    trail.exempt(picture(LISTED).sha256, reinstated="s3://uploads/x", reason="complaint upheld", requested_by="test")
    exempted = [decided(listed("gifct"), LISTED, policy, trail, n).publication for n in range(5)]  # more than the limit of 3
    trail.exemptions.clear()

    published = decided(listed("gifct"), LISTED, policy, trail, 5)

    assert exempted == [Publication.EXEMPTED] * 5 and (published.publication, published.switched, published.matches[0].item.action) == (Publication.PUBLISH, (), Action.QUARANTINE)


def test_a_published_match_over_the_limit_switches_its_item_through_the_rule(policy, alarms):
    trail = MemoryAuditTrail()
    decisions = [decided(listed("gifct"), LISTED, policy, trail, n) for n in range(4)]
    assert [d.matches[0].item.action for d in decisions] == [Action.QUARANTINE] * 3 + [Action.REVIEW] and [len(d.switched) for d in decisions] == [0, 0, 0, 1] and len(alarms) == 1
