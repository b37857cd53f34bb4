"""The hash set's census and the rule that keeps a sharply shrunken set out (hashmatch.hash_set.trust)."""

from __future__ import annotations

from hashmatch.hash_set.snapshot import Census, HashSetChanges, HashSetSnapshot, HashSetView, KnownItem, KnownItemState, ENTRY_KIND
from hashmatch.hash_set.trust import GUARDED_FROM_ITEMS, high_water, sharp_shrink
from hashmatch.vocabulary import Action


def entry(n: int, action: Action = Action.QUARANTINE) -> KnownItemState:
    return KnownItemState(KnownItem(f"pdq:{n:064x}", ("label",), "list", ENTRY_KIND, action=action))


def digest_entry(n: int, action: Action = Action.REVIEW) -> KnownItemState:
    return KnownItemState(KnownItem(f"md5:{n:032x}", ("label",), "list", ENTRY_KIND, action=action))


def media(n: int) -> KnownItemState:
    return KnownItemState(KnownItem(f"ref-{n}", ("clip",), "tests", "video", 4.0), ((0.0, f"{n + 7:064x}"),))


def test_a_snapshots_census_counts_its_entries_and_media_and_those_that_quarantine():
    snapshot = HashSetSnapshot.of_states([entry(1), entry(2, Action.REVIEW), digest_entry(3), media(4)])

    assert snapshot.census() == Census(items=4, quarantine_items=2)


def test_a_views_census_is_the_snapshots_less_what_changed_plus_its_state_now():
    snapshot = HashSetSnapshot.of_states([entry(1), entry(2), digest_entry(3), media(4)])
    changes = HashSetChanges({f"pdq:{1:064x}": None, f"md5:{3:032x}": digest_entry(3, Action.QUARANTINE), f"pdq:{9:064x}": entry(9, Action.REVIEW)})

    assert HashSetView(snapshot, changes).census() == HashSetSnapshot.of_states([entry(2), digest_entry(3, Action.QUARANTINE), media(4), entry(9, Action.REVIEW)]).census()


def test_a_fall_of_more_than_a_quarter_is_a_sharp_shrink():
    before = Census(400, 300)

    assert sharp_shrink(before, Census(301, 226)) is None
    assert str(sharp_shrink(before, Census(200, 150))) == "items fell from 400 to 200 (more than 25%)"
    assert sharp_shrink(before, Census(400, 200)).what == "quarantine items"


def test_small_sets_are_not_guarded():
    assert sharp_shrink(Census(GUARDED_FROM_ITEMS - 1, 50), Census(0, 0)) is None


def test_the_high_water_mark_keeps_the_most_each_count_has_been():
    assert high_water(Census(400, 100), Census(300, 200)) == Census(400, 200)
    assert high_water(None, Census(3, 1)) == Census(3, 1)
