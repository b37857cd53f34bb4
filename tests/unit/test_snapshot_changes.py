"""A snapshot and the changes since it: searched together (HashSetView) they answer as the snapshot with the changes folded in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tests.madehashes import reference_hashes

from hashmatch.hash_set.frame_index import FrameIndexLayers
from hashmatch.model import FrameHashes
from hashmatch.hash_set.snapshot import ENTRY_KIND, HashSetChanges, HashSetSnapshot, HashSetView, KnownItemState, KnownItem
from hashmatch.vocabulary import Action
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD



def as_view(hash_set):
    """A snapshot or a view, as the view a matcher is assembled over."""
    return hash_set if isinstance(hash_set, HashSetView) else HashSetView(hash_set)

def media_state(key: str, seed: int, frames: int = 8, label: str = "known video") -> KnownItemState:
    hashes = reference_hashes(frames, seed)
    return KnownItemState(KnownItem(key, (label,), "tests", "video", hashes.duration, Action.QUARANTINE, f"features/{key}"), tuple((f.timestamp, f.pdq) for f in hashes.frames))


def entry_state(kind: str, value: str, labels=("list label",), source="list A", action=Action.REVIEW) -> KnownItemState:
    return KnownItemState(KnownItem(f"{kind}:{value}", tuple(labels), source, ENTRY_KIND, action=action))


def random_hex(rng: np.random.Generator, nbytes: int = 32) -> str:
    return rng.bytes(nbytes).hex()


def near(hex_hash: str, bits: int) -> str:
    """The hash with its first `bits` bits flipped."""
    value = int(hex_hash, 16) ^ (((1 << bits) - 1) << (256 - bits))
    return f"{value:064x}"


def upload(pdq: list[str], md5: str = "", sha256: str = ""):
    hashes = reference_hashes(len(pdq), seed=999, role="upload")
    frames = tuple(FrameHashes(float(n), value, 100) for n, value in enumerate(pdq))
    return replace(hashes, frames=frames, md5=md5, sha256=sha256, duration=float(len(pdq)))


@pytest.fixture
def world():
    """A base set (media, PDQ, MD5 and SHA-256 entries), changes of every kind, and the set after them."""
    rng = np.random.default_rng(7)
    pdq = [random_hex(rng) for _ in range(40)]
    md5 = [random_hex(rng, 16) for _ in range(5)]
    base = {s.key: s for s in [media_state("video-a", 1), media_state("video-b", 2), media_state("video-c", 3)]}
    base.update({s.key: s for s in (entry_state("pdq", h) for h in pdq)})
    base.update({s.key: s for s in (entry_state("md5", h) for h in md5)})
    changes = {
        "video-a": None,  # removed
        "video-b": media_state("video-b", 20, label="replaced video"),  # replaced by other media
        "video-d": media_state("video-d", 4),  # added
        f"pdq:{pdq[0]}": None,  # removed or allowed
        f"pdq:{pdq[1]}": entry_state("pdq", pdq[1], labels=("relabelled",), source="list B", action=Action.QUARANTINE),
        f"pdq:{(new_pdq := random_hex(rng))}": entry_state("pdq", new_pdq, labels=("new",)),
        f"md5:{md5[0]}": None,
        f"md5:{(new_md5 := random_hex(rng, 16))}": entry_state("md5", new_md5),
    }
    after = {**base, **changes}
    after = {key: state for key, state in after.items() if state is not None}
    return {"base": base, "changes": HashSetChanges(changes), "after": after, "pdq": pdq, "md5": md5, "new_pdq": new_pdq, "new_md5": new_md5}


def queries(world) -> list:
    """Uploads near every PDQ entry and media frame that ever existed, and with every digest."""
    every = {**world["base"], **{k: v for k, v in world["changes"].changed.items() if v}}
    found = []
    for state in every.values():
        kind, _, value = state.key.partition(":")
        if state.item.is_entry and kind == "pdq":
            found.append(upload([near(value, 9)]))
        elif state.item.is_entry:
            found.append(upload([random_hex(np.random.default_rng(1))], md5=value))
        else:
            found.append(upload([near(h, 5) for _, h in state.frames]))
    return found


def matched(matcher, hashes) -> list[str]:
    return sorted(str(key) for key, _ in matcher.match(hashes).matches)


def test_a_view_matches_every_upload_as_the_set_built_after_the_changes_does(world):
    view = HashSetView(HashSetSnapshot.of_states(world["base"].values()), world["changes"])
    rebuilt = hash_set_matcher(HashSetView(HashSetSnapshot.of_states(world["after"].values())), PDQ_CONFIDENT_MATCH_THRESHOLD)

    answers = [(matched(hash_set_matcher(as_view(view), PDQ_CONFIDENT_MATCH_THRESHOLD), q), matched(rebuilt, q)) for q in queries(world)]

    assert all(seen == expected for seen, expected in answers)
    assert sum(bool(expected) for _, expected in answers) == len(world["after"])


def test_a_patched_snapshot_matches_every_upload_as_the_set_built_after_the_changes_does(world):
    patched = HashSetSnapshot.of_states(world["base"].values()).patched(world["changes"])
    rebuilt = hash_set_matcher(HashSetView(HashSetSnapshot.of_states(world["after"].values())), PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert all(matched(hash_set_matcher(as_view(patched), PDQ_CONFIDENT_MATCH_THRESHOLD), q) == matched(rebuilt, q) for q in queries(world))


def test_a_patched_snapshot_survives_its_bytes(world):
    patched = HashSetSnapshot.of_states(world["base"].values()).patched(world["changes"])
    again = HashSetSnapshot.from_bytes(patched.to_bytes())

    assert all(matched(hash_set_matcher(as_view(again), PDQ_CONFIDENT_MATCH_THRESHOLD), q) == matched(hash_set_matcher(as_view(patched), PDQ_CONFIDENT_MATCH_THRESHOLD), q) for q in queries(world))
    assert {r.key for r in again.media()} == {"video-b", "video-c", "video-d"}


def test_a_view_describes_changed_and_unchanged_references_as_they_are_now(world):
    view = HashSetView(HashSetSnapshot.of_states(world["base"].values()), world["changes"])
    pdq = world["pdq"]

    assert view.describe(f"pdq:{pdq[1]}") == KnownItem(f"pdq:{pdq[1]}", ("relabelled",), "list B", ENTRY_KIND, action=Action.QUARANTINE)
    assert view.describe(f"pdq:{pdq[2]}") == KnownItem(f"pdq:{pdq[2]}", ("list label",), "list A", ENTRY_KIND, action=Action.REVIEW)
    assert view.describe("video-b").labels == ("replaced video",)
    assert f"pdq:{pdq[0]}" not in view and "video-a" not in view and f"md5:{world['md5'][0]}" not in view


def test_a_patched_snapshot_describes_its_entries_by_their_groups(world):
    patched = HashSetSnapshot.of_states(world["base"].values()).patched(world["changes"])
    pdq = world["pdq"]

    assert patched.describe(f"pdq:{pdq[1]}").source == "list B"
    assert patched.describe(f"pdq:{pdq[3]}").labels == ("list label",)
    assert patched.describe(f"pdq:{world['new_pdq']}").labels == ("new",)
    with pytest.raises(KeyError):
        patched.describe(f"pdq:{pdq[0]}")


def test_a_view_without_changes_searches_the_snapshot_index_itself(world):
    snapshot = HashSetSnapshot.of_states(world["base"].values())

    assert HashSetView(snapshot).frames is snapshot.frames
    assert isinstance(HashSetView(snapshot, world["changes"]).frames, FrameIndexLayers)


def test_a_later_change_of_a_key_replaces_the_earlier_one():
    first = HashSetChanges({"video-a": media_state("video-a", 1), "pdq:" + "0" * 64: None})
    later = HashSetChanges({"video-a": None})

    combined = first.then(later)

    assert combined.changed == {"video-a": None, "pdq:" + "0" * 64: None}


def test_changes_survive_their_bytes(world):
    again = HashSetChanges.from_bytes(world["changes"].to_bytes())

    assert again == world["changes"]


def test_changes_count_every_key_and_the_frames_of_the_present_ones(world):
    # Eight keys changed (removals count: every matcher reads and hides them); video-b and video-d hold 8 frames each.
    assert world["changes"].size == 8 + 8 + 8


def test_a_views_digest_table_counts_what_it_finds(world):
    view = HashSetView(HashSetSnapshot.of_states(world["base"].values()), world["changes"])
    md5 = hash_set_matcher(as_view(view), PDQ_CONFIDENT_MATCH_THRESHOLD).stages[0].entries

    assert len(md5) == len(list(md5)) == 5  # one of five removed, one added
    assert md5.get(world["new_md5"]) == f"md5:{world['new_md5']}" and md5.get(world["md5"][0]) is None


def test_changes_of_an_unknown_format_are_refused():
    with pytest.raises(ValueError, match="format"):
        HashSetChanges.from_bytes(b'{"format": 9, "changed": {}}')


def test_a_snapshot_keeps_each_references_action_and_features_key():
    snapshot = HashSetSnapshot.of_states([media_state("video-a", 1), entry_state("pdq", "ab" * 32, action=Action.QUARANTINE), entry_state("sha256", "cd" * 32)])

    again = HashSetSnapshot.from_bytes(snapshot.to_bytes())

    assert again.describe("video-a").features_key == "features/video-a"
    assert again.describe("pdq:" + "ab" * 32).action == Action.QUARANTINE
    assert again.describe("sha256:" + "cd" * 32).action == Action.REVIEW


def test_a_removed_media_reference_leaves_the_patched_snapshots_key_list():
    snapshot = HashSetSnapshot.of_states([media_state("video-a", 1), media_state("video-b", 2)])

    patched = snapshot.patched(HashSetChanges({"video-a": None}))

    assert patched.frames.references == ["video-b"] and len(patched.frames) == 8
