"""The lookup API's core: requests checked field by field, each hash answered against the matcher's stages, labels only for the labels role."""

from __future__ import annotations

import pytest

from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.callers import Caller
from hashmatch.matching.lookup import MAX_HASHES_PER_REQUEST, LookupRequest, LookupRequestError, PdqQuery, look_up, parse_request
from hashmatch.hash_set.snapshot import ENTRY_KIND, HashSetChanges, HashSetSnapshot, HashSetView, KnownItemState, KnownItem
from hashmatch.vocabulary import Action
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

LISTED = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
MD5 = "69b0834fac1477a4397a0be6b6e55c1a"
SHA256 = "25094afa08e258b3135208b54b0ed28a50ad5386a4e4b66501e7ad886864fd54"



def as_view(hash_set):
    """A snapshot or a view, as the view a matcher is assembled over."""
    return hash_set if isinstance(hash_set, HashSetView) else HashSetView(hash_set)

def flipped(hex_hash: str, bits: int) -> str:
    """The hash with its lowest `bits` bits inverted: exactly `bits` apart."""
    return format(int(hex_hash, 16) ^ ((1 << bits) - 1), "064x")


def entry(signal_type: ListedSignal, value: str, labels=("attack video",), source="gifct") -> HashListEntry:
    return HashListEntry(signal_type=signal_type, hash=value, labels=tuple(labels), source=source)


@pytest.fixture
def view() -> HashSetView:
    snapshot = HashSetSnapshot.build([entry(ListedSignal.PDQ, LISTED), entry(ListedSignal.MD5, MD5, source="partner-list")])
    return HashSetView(snapshot)


def answer(view: HashSetView, request: LookupRequest, with_labels: bool = True) -> dict:
    return look_up(request, hash_set_matcher(as_view(view), PDQ_CONFIDENT_MATCH_THRESHOLD), view.describe).to_dict(with_labels)


def test_a_request_of_pdq_md5_and_sha256_hashes_is_read_in_lowercase():
    request = parse_request({"pdq": [LISTED.upper()], "md5": [MD5], "sha256": [SHA256]})

    assert request == LookupRequest((PdqQuery(LISTED),), (MD5,), (SHA256,))
    assert request.size == 3


def test_a_pdq_hash_may_carry_its_quality():
    assert parse_request({"pdq": [{"hash": LISTED, "quality": 80}]}).pdq == (PdqQuery(LISTED, 80),)


def test_every_bad_field_is_named_in_one_refusal():
    with pytest.raises(LookupRequestError) as refused:
        parse_request({"pdq": ["abc", {"hash": LISTED, "quality": 101}], "md5": [SHA256], "tmk": []})

    assert [problem.split(":")[0] for problem in refused.value.problems] == ["body", "pdq[0]", "pdq[1].quality", "md5[0]"]


@pytest.mark.parametrize("body", ["not json", "[]", "{}", '{"pdq": "' + LISTED + '"}'])
def test_a_body_that_is_not_a_request_is_refused(body):
    with pytest.raises(LookupRequestError):
        parse_request(body)


def test_more_hashes_than_a_request_holds_are_refused():
    with pytest.raises(LookupRequestError, match=f"at most {MAX_HASHES_PER_REQUEST} per request"):
        parse_request({"pdq": [LISTED] * MAX_HASHES_PER_REQUEST, "md5": [MD5]})


def test_a_long_request_splits_into_requests_the_api_takes_in_order():
    request = LookupRequest(tuple(PdqQuery(flipped(LISTED, n)) for n in range(150)), (MD5,), ())

    parts = request.split()

    assert [part.size for part in parts] == [100, 51]
    assert [query.hash for part in parts for query in part.pdq] == [query.hash for query in request.pdq]
    assert parts[1].md5 == (MD5,)
    assert all(parse_request(part.to_dict()) == part for part in parts)


def test_a_hash_within_the_threshold_matches_with_its_distance_and_labels(view):
    [found] = answer(view, LookupRequest((PdqQuery(flipped(LISTED, 7)),)))["pdq"]

    assert found["match"] and found["distance"] == 7
    assert found["labels"] == ["attack video"] and found["sources"] == ["gifct"]
    assert found["reference_ids"] == [f"pdq:{LISTED}"]


def test_a_hash_beyond_the_threshold_does_not_match(view):
    [found] = answer(view, LookupRequest((PdqQuery(flipped(LISTED, 40)),)))["pdq"]

    assert found == {"hash": flipped(LISTED, 40), "match": False}


def test_a_caller_without_the_labels_role_learns_only_match_and_action(view):
    [found] = answer(view, LookupRequest((PdqQuery(LISTED),)), with_labels=False)["pdq"]

    assert found == {"hash": LISTED, "match": True, "action": "quarantine"}


def test_a_pdq_hash_sent_with_low_quality_is_not_searched(view):
    [found] = answer(view, LookupRequest((PdqQuery(LISTED, 20),)))["pdq"]

    assert found == {"hash": LISTED, "match": False, "low_quality": True}


def test_a_listed_md5_matches_and_an_unknown_sha256_does_not(view):
    found = answer(view, LookupRequest((), (MD5,), (SHA256,)))

    assert found["md5"][0]["match"] and found["md5"][0]["sources"] == ["partner-list"] and found["md5"][0]["distance"] == 0
    assert found["sha256"] == [{"hash": SHA256, "match": False}]


def test_answers_keep_the_requests_order_and_duplicates():
    view = HashSetView(HashSetSnapshot.build([entry(ListedSignal.PDQ, LISTED)]))
    hashes = [flipped(LISTED, 60), LISTED, flipped(LISTED, 60), LISTED]

    found = answer(view, LookupRequest(tuple(PdqQuery(h) for h in hashes)))["pdq"]

    assert [(item["hash"], item["match"]) for item in found] == [(hashes[0], False), (LISTED, True), (hashes[0], False), (LISTED, True)]


def test_the_action_is_quarantine_when_any_matched_reference_asks_for_it():
    near = flipped(LISTED, 3)
    states = [
        KnownItemState(KnownItem(f"pdq:{LISTED}", ("a",), "list a", ENTRY_KIND, action=Action.REVIEW)),
        KnownItemState(KnownItem(f"pdq:{near}", ("b",), "list b", ENTRY_KIND, action=Action.QUARANTINE)),
    ]
    view = HashSetView(HashSetSnapshot.of_states(states))

    [found] = answer(view, LookupRequest((PdqQuery(flipped(LISTED, 1)),)))["pdq"]

    assert found["action"] == "quarantine"
    assert found["reference_ids"] == [f"pdq:{LISTED}", f"pdq:{near}"]  # nearest first
    assert found["labels"] == ["a", "b"]


def test_review_only_matches_recommend_review():
    state = KnownItemState(KnownItem(f"pdq:{LISTED}", ("a",), "list a", ENTRY_KIND, action=Action.REVIEW))
    view = HashSetView(HashSetSnapshot.of_states([state]))

    assert answer(view, LookupRequest((PdqQuery(LISTED),)), with_labels=False)["pdq"][0]["action"] == "review"


def test_an_entry_allowed_since_the_snapshot_no_longer_matches(view):
    # The indexer publishes an allowed entry as gone (its state None); the matcher hides it.
    changed = HashSetView(view.snapshot, HashSetChanges({f"pdq:{LISTED}": None}))

    [found] = answer(changed, LookupRequest((PdqQuery(LISTED),)))["pdq"]

    assert found["match"] is False


def test_an_entry_added_since_the_snapshot_matches():
    added = KnownItemState(KnownItem(f"pdq:{LISTED}", ("new",), "late list", ENTRY_KIND))
    view = HashSetView(HashSetSnapshot.build([]), HashSetChanges({f"pdq:{LISTED}": added}))

    [found] = answer(view, LookupRequest((PdqQuery(LISTED),)))["pdq"]

    assert found["match"] and found["labels"] == ["new"]


def test_a_media_reference_frame_matches_a_hash_of_it():
    media = KnownItemState(KnownItem("ref-1", ("known video",), "corpus", "video", 10.0), ((0.0, LISTED), (2.0, flipped(LISTED, 100))))
    view = HashSetView(HashSetSnapshot.of_states([media]))

    [found] = answer(view, LookupRequest((PdqQuery(flipped(LISTED, 2)),)))["pdq"]

    assert found["reference_ids"] == ["ref-1"] and found["distance"] == 2


def test_a_session_of_a_listed_role_of_the_own_account_is_role_session_of():
    caller = Caller.from_arn("arn:aws:sts::123456789012:assumed-role/labels-reader/alice")

    assert caller.is_role_session_of("123456789012", {"labels-reader"})
    assert caller.principal == "arn:aws:sts::123456789012:assumed-role/labels-reader"


def test_a_role_of_the_same_name_in_another_account_may_not_see_labels():
    caller = Caller.from_arn("arn:aws:sts::210987654321:assumed-role/labels-reader/mallory")

    assert not caller.is_role_session_of("123456789012", {"labels-reader"})


def test_an_iam_user_or_an_unlisted_role_may_not_see_labels():
    assert not Caller.from_arn("arn:aws:iam::123456789012:user/labels-reader").is_role_session_of("123456789012", {"labels-reader"})
    assert not Caller.from_arn("arn:aws:sts::123456789012:assumed-role/partner/s").is_role_session_of("123456789012", {"labels-reader"})
    assert not Caller.from_arn("arn:aws:sts::123456789012:assumed-role/labels-reader/s").is_role_session_of("123456789012", set())


def test_a_new_session_name_does_not_make_a_new_caller():
    first = Caller.from_arn("arn:aws:sts::210987654321:assumed-role/partner/session-1")
    second = Caller.from_arn("arn:aws:sts::210987654321:assumed-role/partner/session-2")

    assert first.principal == second.principal


@pytest.mark.parametrize("arn", ["", "anonymous", "arn:aws:sts::123:assumed-role/x/y", "arn:aws:sts::123456789012:assumed-role/only-role"])
def test_what_is_not_a_caller_arn_is_refused(arn):
    with pytest.raises(ValueError):
        Caller.from_arn(arn)
