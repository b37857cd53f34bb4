"""Each threshold a verdict turns on, pinned by behaviour: an upload built to sit just above it matches, one built to sit just below does not.

The uploads are made at the boundary (so many frames of a copy, so many keypoints of a picture, so many bits
from a listed hash) and go through the parts that decide in production: the Matcher over a hash set, the
local-feature index and its verification, `hashmatch match`. A threshold moved either way, or a `>=` turned
into `>`, fails one of each pair.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from hashmatch.hash_set.snapshot import HashSetSnapshot, HashSetView, KnownItem, KnownItemState
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.matching.local_features.index import LocalFeatureIndex
from hashmatch.matching.local_features.stage import search_pictures
from hashmatch.matching.verdict import MIN_SEGMENT_SECONDS, decide
from hashmatch.media.hashing import hash_media
from hashmatch.model import FrameFeatures, FrameHashes, LocalFeatures, MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import MatchRule, Stage
from hashmatch_tools.cli import main
from hashmatch_tools.made_media import image_bytes, textured


def random_hash(seed: int) -> str:
    return hashlib.sha256(f"frame {seed}".encode()).hexdigest()


def with_bits_flipped(value: str, count: int) -> str:
    """`value` with `count` of its bits inverted, spread over the hash (every seventh bit)."""
    number = int(value, 16)
    for position in range(count):
        number ^= 1 << (position * 7 % 256)
    return f"{number:064x}"


def matcher_of(*states: KnownItemState):
    """The Matcher a stack would assemble over these known items, at the deployed PDQ threshold."""
    return hash_set_matcher(HashSetView(HashSetSnapshot.of_states(states)), PRIMARY_SIGNAL.match_threshold)


def video_reference(seconds: int, seed: int, per_second: int = 1) -> KnownItemState:
    """A known video of `per_second` distinct frames a second."""
    frames = tuple((n / per_second, random_hash(seed * 100_000 + n)) for n in range(seconds * per_second))
    return KnownItemState(KnownItem("known-video", ("known",), "tests", "video", float(seconds)), frames)


def upload_video(hashes: list[str]) -> MediaHashes:
    """An upload with a frame every 2 seconds."""
    frames = tuple(FrameHashes(2.0 * n, value, 100) for n, value in enumerate(hashes))
    return MediaHashes("video", "mp4", 2.0 * len(frames), 640, 360, "", "", "upload", frames, len(frames))


# ---------------------------------------------------------------------------------------- the upload's share


def copy_showing(reference: KnownItemState, shown: int, total: int) -> MediaHashes:
    """An upload of `total` frames, `shown` of them frames of the reference (10 bits off, as a re-encode leaves them),
    picked 137 s apart in the reference so that no two follow each other (no excerpt played through), the rest unrelated."""
    frames = reference.frames
    copied = [with_bits_flipped(frames[(n * 137) % len(frames)][1], 10) for n in range(shown)]
    return upload_video(copied + [random_hash(900_000 + n) for n in range(total - shown)])


def test_an_upload_half_of_whose_frames_show_the_reference_matches_it():
    reference = video_reference(600, seed=1)

    verdict = matcher_of(reference).verdict(copy_showing(reference, 50, 100), "known-video")

    assert verdict.query_match_percent == 50.0 and verdict.reference_match_percent < 50.0 and verdict.segment.reference_seconds < MIN_SEGMENT_SECONDS
    assert verdict.match and verdict.rule == MatchRule.QUERY_SHARE


def test_an_upload_just_under_half_of_whose_frames_show_the_reference_does_not_match_it():
    reference = video_reference(600, seed=1)

    verdict = matcher_of(reference).verdict(copy_showing(reference, 49, 100), "known-video")

    assert verdict.query_match_percent == 49.0 and verdict.reference_match_percent < 49.0
    assert not verdict.match and verdict.rule is None


# ---------------------------------------------------------------------------------------- the reference's share


def copy_covering(reference: KnownItemState, seconds: list[int], total: int) -> MediaHashes:
    """An upload of `total` frames that shows the reference's frames at `seconds`, every third upload frame (never a run)."""
    frames = dict(reference.frames)
    hashes = [random_hash(800_000 + n) for n in range(total)]
    for n, second in enumerate(seconds):
        hashes[3 * n] = with_bits_flipped(frames[float(second)], 10)
    return upload_video(hashes)


def test_an_upload_covering_half_of_the_reference_matches_it():
    reference = video_reference(20, seed=2)
    # Each matched reference second stands for one second either side of it (half the upload's 2 s step): 0-10 s of 20.
    verdict = matcher_of(reference).verdict(copy_covering(reference, [1, 9, 5, 3, 7], 20), "known-video")

    assert verdict.reference_match_percent == 50.0 and verdict.query_match_percent < 50.0
    assert verdict.match and verdict.rule == MatchRule.REFERENCE_SHARE


def test_an_upload_covering_just_under_half_of_the_reference_does_not_match_it():
    reference = video_reference(20, seed=2)

    verdict = matcher_of(reference).verdict(copy_covering(reference, [1, 8, 5, 3, 7], 20), "known-video")

    assert verdict.reference_match_percent == 45.0 and verdict.query_match_percent < 45.0
    assert not verdict.match


# ---------------------------------------------------------------------------------------- the segment rule


def report_playing(reference: KnownItemState, seconds: list[float], total: int = 60) -> MediaHashes:
    """A long upload (`total` frames, 2 s apart) whose frames from the 40th second on show the reference at `seconds`, one each."""
    frames = dict(reference.frames)
    hashes = [random_hash(700_000 + n) for n in range(total)]
    for n, second in enumerate(seconds):
        hashes[20 + n] = with_bits_flipped(frames[second], 10)
    return upload_video(hashes)


def test_a_long_upload_playing_eight_seconds_of_a_reference_through_matches_it():
    reference = video_reference(600, seed=3, per_second=2)
    # Five upload frames 2 s apart show 300-308 s: the run covers 8 s of the reference.
    verdict = matcher_of(reference).verdict(report_playing(reference, [300.0, 302.0, 304.0, 306.0, 308.0]), "known-video")

    assert verdict.query_match_percent < 10 and verdict.reference_match_percent < 10
    assert verdict.match and verdict.rule == MatchRule.SEGMENT and verdict.segment.reference_seconds == 8.0


def test_a_long_upload_playing_seven_and_a_half_seconds_of_a_reference_does_not_match_it():
    reference = video_reference(600, seed=3, per_second=2)
    # Slowed to 0.75x: six upload frames 2 s apart show 300-307.5 s.
    verdict = matcher_of(reference).verdict(report_playing(reference, [300.0, 301.5, 303.0, 304.5, 306.0, 307.5]), "known-video")

    assert verdict.segment.reference_seconds == 7.5 and verdict.segment.frames == 6
    assert not verdict.match


# ---------------------------------------------------------------------------------------- local-feature inliers


def keypoints(count: int, seed: int) -> LocalFeatures:
    """`count` keypoints scattered over a 1024 x 768 picture, each with a descriptor of its own."""
    rng = np.random.default_rng(seed)
    return LocalFeatures(rng.uniform(0, [1024, 768], (count, 2)).astype(np.float32), rng.integers(0, 256, (count, 32), dtype=np.uint8))


def picture_sharing(reference: LocalFeatures, shared: int) -> LocalFeatures:
    """A picture with a smaller copy of `shared` of the reference's keypoints (same descriptors, the geometry of a copy
    shrunk to 60 % and moved), among 300 keypoints of unrelated content."""
    copied = reference.points[:shared] * 0.6 + np.float32([180, 120])
    unrelated = keypoints(300, seed=99)
    return LocalFeatures(np.concatenate([copied, unrelated.points]), np.concatenate([reference.descriptors[:shared], unrelated.descriptors]))


def local_feature_verdict(shared: int):
    """The verdict of the local-feature stage's search on an upload picture sharing `shared` keypoints with a known picture."""
    reference = keypoints(400, seed=7)
    index = LocalFeatureIndex()
    index.add("known-picture", [(0.0, reference)], 0.0)
    pictures = [FrameFeatures(0.0, picture_sharing(reference, shared))]

    verifiable, found = search_pictures(index, pictures, mirrored=lambda positions: [], threads=1)

    return decide(verifiable, found.get("known-picture", []), 0.0, stage=Stage.LOCAL_FEATURES, threshold=0)


def test_a_picture_showing_32_keypoints_of_a_known_one_in_a_copy_s_geometry_matches():
    verdict = local_feature_verdict(32)

    assert verdict.match and verdict.best_inliers == 32


def test_a_picture_showing_27_keypoints_of_a_known_one_does_not_match():
    verdict = local_feature_verdict(27)

    assert not verdict.match and verdict.matched_query_frames == 0


# ---------------------------------------------------------------------------------------- PDQ bits


def match_against_entry(tmp_path, capsys, bits: int) -> list[dict]:
    """`hashmatch match` at its default threshold: a picture against a hash list whose one entry is the picture's PDQ with `bits` bits flipped."""
    picture = tmp_path / "picture.png"
    picture.write_bytes(image_bytes(textured(31)))
    own = hash_media(picture).frames[0].pdq
    (tmp_path / "list.txt").write_text(with_bits_flipped(own, bits) + "\n")

    status = main(["match", "--hash-list", str(tmp_path / "list.txt"), str(picture), "--json"])

    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert status == 0
    return line["matches"]


def test_a_picture_31_bits_from_a_listed_hash_matches_it(tmp_path, capsys):
    [match] = match_against_entry(tmp_path, capsys, 31)

    assert match["distance"] == 31


def test_a_picture_32_bits_from_a_listed_hash_does_not_match_it(tmp_path, capsys):
    assert match_against_entry(tmp_path, capsys, 32) == []
