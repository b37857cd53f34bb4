"""vPDQ lists are videos: the frames of one vPDQ file form one listed video, matched by the video rules."""

from __future__ import annotations

import json

from hashmatch.hash_set.lists import HashListEntry, HashListFormat, read_hash_list, write_hash_list
from hashmatch.hash_set.snapshot import LISTED_VIDEO_PREFIX, HashSetSnapshot, HashSetView
from hashmatch.matching.assembly import hash_set_matcher
from hashmatch.media.hashing import hash_media
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import MatchRule, Role
from hashmatch_tools.cli import main
from hashmatch_tools.made_media import encode_video, panning


def vpdq_lines(hashes, name: str) -> list[str]:
    """A reference's frames written as a vPDQ file would hold them (frame number, quality, hash, seconds)."""
    entries = [
        HashListEntry(signal_type="pdq", hash=frame.pdq, source="partner", source_id=f"{name}#{number}", quality=frame.quality, timestamp=frame.timestamp)
        for number, frame in enumerate(hashes.usable_frames)
    ]
    return list(write_hash_list(entries, HashListFormat.VPDQ))


def frame_entry(number: int, seconds: float, hash_hex: str, name: str = "clip.txt", source: str = "partner", labels=()) -> HashListEntry:
    return HashListEntry(signal_type="pdq", hash=hash_hex, source=source, source_id=f"{name}#{number}", quality=90, timestamp=seconds, labels=labels)


def test_the_frames_of_one_vpdq_file_are_one_listed_video_with_its_duration():
    entries = [frame_entry(n, n / 25, f"{n + 1:064x}") for n in range(50)]

    snapshot = HashSetSnapshot.build(entries)

    [video] = snapshot.media()
    assert (video.key, video.kind, video.duration) == (f"{LISTED_VIDEO_PREFIX}clip.txt", "video", 2.0)
    assert len(snapshot.frames) == 50 and snapshot.describe(video.key) == video


def test_a_listed_video_takes_the_labels_and_sources_of_its_frames():
    entries = [frame_entry(0, 0.0, "1" * 64, labels=("tve",)), frame_entry(1, 0.04, "2" * 64, source="other", labels=("christchurch",))]

    [video] = HashSetSnapshot.build(entries).media()

    assert video.labels == ("christchurch", "tve") and video.source == "other, partner"


def test_plain_pdq_entries_stay_pictures_of_their_own_beside_listed_videos():
    plain = HashListEntry(signal_type="pdq", hash="3" * 64, source="partner")

    snapshot = HashSetSnapshot.build([plain, frame_entry(0, 0.0, "1" * 64), frame_entry(1, 0.04, "2" * 64)])

    assert [item.key for item in snapshot.media()] == [f"{LISTED_VIDEO_PREFIX}clip.txt"]
    assert snapshot.describe(f"pdq:{'3' * 64}").is_entry


def test_a_copy_of_a_listed_video_matches_it_once_as_a_video(tmp_path):
    frames = panning(41, 80, 320, 240)
    reference = hash_media(encode_video(frames, fps=20), role=Role.REFERENCE)
    entries = [e for e in read_hash_list(vpdq_lines(reference, "clip.txt"), "partner", name="clip.txt")]
    upload = hash_media(encode_video(frames[10:70], fps=20))

    result = hash_set_matcher(HashSetView(HashSetSnapshot.build(entries)), PRIMARY_SIGNAL.match_threshold).match(upload)

    [(key, verdict)] = result.matches
    assert key == f"{LISTED_VIDEO_PREFIX}clip.txt" and verdict.rule == MatchRule.QUERY_SHARE and verdict.query_match_percent == 100.0


def test_hashmatch_match_reports_one_video_match_for_a_vpdq_list(tmp_path, capsys):
    frames = panning(42, 80, 320, 240)
    (tmp_path / "clip.txt").write_text("".join(vpdq_lines(hash_media(encode_video(frames, fps=20), role=Role.REFERENCE), "clip.txt")))
    (tmp_path / "copy.mp4").write_bytes(encode_video(frames, fps=20))

    status = main(["match", "--hash-list", str(tmp_path / "clip.txt"), str(tmp_path / "copy.mp4"), "--json"])

    [line] = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    [match] = line["matches"]
    assert status == 0 and match["reference"] == f"{LISTED_VIDEO_PREFIX}clip.txt" and match["rule"] == "query_share"
    assert match["query_match_percent"] == 100.0 and match["reference_match_percent"] >= 90.0
