"""The Matcher: stages in order, a later stage only when nothing matched, matches ranked best first."""

from __future__ import annotations

import hashlib

from hashmatch.hash_set.frame_index import FrameMatch
from hashmatch.matching.matcher import DigestStage, Matcher, PdqStage, StageFindings
from hashmatch.hash_set.frame_index import FrameIndex
from hashmatch.model import EncodedDetailPicture, FrameHashes, MediaHashes
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.vocabulary import Stage


def pdq(seed: int, flipped_bits: int = 0) -> str:
    """A random-looking 256-bit hash made from a seed (unrelated seeds land about 128 bits apart), its lowest `flipped_bits` bits inverted."""
    value = int.from_bytes(hashlib.sha256(str(seed).encode()).digest(), "big") ^ ((1 << flipped_bits) - 1)
    return format(value, "064x")



def pdq_stage(references: dict | None = None) -> PdqStage:
    """The PDQ stage over references' usable frames, at the confident threshold."""
    index = FrameIndex(256)
    for key, reference in (references or {}).items():
        index.add(key, [(frame.timestamp, frame.pdq) for frame in reference.usable_frames], reference.duration)
    return PdqStage(index, PDQ_CONFIDENT_MATCH_THRESHOLD)

def picture(*hashes: str, role: str = "upload") -> MediaHashes:
    """A picture, or with several hashes a video of one frame per second."""
    frames = tuple(FrameHashes(float(second), value, 100) for second, value in enumerate(hashes))
    return MediaHashes("image" if len(frames) == 1 else "video", "png", float(len(frames) - 1), 64, 64, "", "", role, frames, len(frames))


class RecordingStage:
    """A second stage that finds a fixed reference by 40 inliers, and records that it ran."""

    stage = Stage.LOCAL_FEATURES
    threshold = 30

    def __init__(self, reference: str = "b", frames: int = 1):
        self.reference = reference
        self.frames = frames
        self.calls = 0

    def __len__(self) -> int:
        return self.frames

    def find(self, upload, detail_pictures):
        self.calls += 1
        if detail_pictures is None:
            return None  # as the real stage: nothing of the upload to look at
        pictures = detail_pictures()
        matches = {self.reference: [FrameMatch(p.timestamp, 0.0, 0.0, None, 40) for p in pictures]}
        return StageFindings(pictures, matches, 0.0, self.threshold)


def loader(calls: list, pictures: int = 1):
    def load():
        calls.append(1)
        return [EncodedDetailPicture(float(second), b"jpeg") for second in range(pictures)]

    return load


def test_a_pdq_match_is_decided_by_the_first_stage():
    matcher = Matcher({"a": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")})])

    result = matcher.match(picture(pdq(1, flipped_bits=5)))

    assert [(key, verdict.stage, verdict.best_distance) for key, verdict in result.matches] == [("a", Stage.PDQ, 5)]


def test_the_second_stage_does_not_run_and_pictures_are_not_loaded_when_pdq_matched():
    second, loads = RecordingStage(), []
    matcher = Matcher({"a": 0.0, "b": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")}), second])

    result = matcher.match(picture(pdq(1)), loader(loads))

    assert second.calls == 0 and loads == [] and result.stages == (Stage.PDQ,)


def test_the_second_stage_runs_when_pdq_matched_nothing():
    second, loads = RecordingStage(), []
    matcher = Matcher({"a": 0.0, "b": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")}), second])

    result = matcher.match(picture(pdq(2)), loader(loads))

    assert result.stages == (Stage.PDQ, Stage.LOCAL_FEATURES) and loads == [1]
    assert result.deciding_stage == Stage.LOCAL_FEATURES and [key for key, _ in result.matches] == ["b"]


def test_a_later_match_replaces_an_earlier_verdict_that_did_not_match():
    # One of the upload's four frames meets reference "a" in PDQ: too few for a match.
    matcher = Matcher({"a": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")}), RecordingStage("a")])
    upload = picture(pdq(1), pdq(5), pdq(6), pdq(7))
    assert not Matcher({"a": 0.0}, matcher.stages[:1]).match(upload).verdicts["a"].match

    result = matcher.match(upload, loader([], pictures=2))

    assert result.verdicts["a"].match and result.verdicts["a"].stage == Stage.LOCAL_FEATURES


def test_a_stage_without_reference_frames_is_skipped():
    empty = RecordingStage(frames=0)
    matcher = Matcher({"b": 0.0}, [pdq_stage(), empty])

    result = matcher.match(picture(pdq(3)), loader([]))

    assert empty.calls == 0 and result.stages == ()


def test_without_a_picture_loader_only_pdq_looks():
    matcher = Matcher({"a": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")}), RecordingStage()])

    result = matcher.match(picture(pdq(2)))

    assert result.matches == [] and result.stages == (Stage.PDQ,)


def test_matches_are_ranked_by_distance_then_reference():
    references = {"far": picture(pdq(1, flipped_bits=20), role="reference"), "near": picture(pdq(1, flipped_bits=3), role="reference"), "also-near": picture(pdq(1, flipped_bits=3), role="reference")}
    matcher = Matcher({key: 0.0 for key in references}, [pdq_stage(references)])

    result = matcher.match(picture(pdq(1)))

    assert [key for key, _ in result.matches] == ["also-near", "near", "far"]


def test_the_verdict_against_a_reference_no_stage_met_is_no_match():
    matcher = Matcher({"a": 0.0}, [pdq_stage({"a": picture(pdq(1), role="reference")})])

    verdict = matcher.verdict(picture(pdq(9)), "a")

    assert not verdict.match and verdict.query_frames == 1 and verdict.query_match_percent == 0.0


def digest_upload(md5: str, *hashes: str) -> MediaHashes:
    frames = tuple(FrameHashes(float(n), value, 100) for n, value in enumerate(hashes))
    return MediaHashes("image", "png", 0.0, 64, 64, md5, "", "upload", frames, len(frames))


def test_an_exact_md5_match_decides_before_pdq_looks():
    md5 = hashlib.md5(b"known file").hexdigest()
    matcher = Matcher({"md5:x": 0.0, "a": 0.0}, [DigestStage(Stage.MD5, {md5: "md5:x"}), pdq_stage({"a": picture(pdq(1), role="reference")})])

    result = matcher.match(digest_upload(md5, pdq(1)))

    assert [(key, verdict.stage, verdict.best_distance) for key, verdict in result.matches] == [("md5:x", Stage.MD5, 0)]
    assert result.stages == (Stage.MD5,)


def test_an_unlisted_digest_leaves_the_upload_to_pdq():
    matcher = Matcher({"md5:x": 0.0, "a": 0.0}, [DigestStage(Stage.MD5, {"0" * 32: "md5:x"}), pdq_stage({"a": picture(pdq(1), role="reference")})])

    result = matcher.match(digest_upload(hashlib.md5(b"other").hexdigest(), pdq(1)))

    assert [key for key, _ in result.matches] == ["a"] and result.stages == (Stage.MD5, Stage.PDQ)
