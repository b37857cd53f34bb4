"""The negative corpus's tooling: reading packages, choosing and splitting pictures, making videos, and the bound a count of false positives supports."""

from __future__ import annotations

import hashlib
import struct
import zlib
from fractions import Fraction
from math import comb

import av
import numpy as np
import pytest
from PIL import Image

from hashmatch_tools.evaluation.negatives.corpus import NearDuplicates, analyse, split_of, use_of
from hashmatch_tools.evaluation.negatives.debian import licence_summary, read_qt_resources
from hashmatch_tools.evaluation.negatives.false_positives import upper_bound
from hashmatch_tools.evaluation.negatives.packages import ALL_PACKAGES, NEGATIVE_PACKAGES, RESERVED, TUNING_PERCENT, Package, Part
from hashmatch_tools.evaluation.negatives.videos import Recipe, Shot, encode, negative_recipe
from hashmatch_tools.made_media import detailed, image_bytes


def qt_resources(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-2 Qt resource bundle holding `files` (path: (bytes, zlib-compressed)) in one folder, as rcc writes it."""
    names, payload, nodes = bytearray(), bytearray(), []

    def name(text: str) -> int:
        at = len(names)
        encoded = text.encode("utf-16-be")
        names.extend(struct.pack(">HI", len(text), 0) + encoded)
        return at

    folder = next(iter(files)).split("/")[0]
    nodes.append(struct.pack(">IHII", 0, 0x02, 1, 1) + bytes(8))  # the root: one child, node 1
    nodes.append(struct.pack(">IHII", name(folder), 0x02, len(files), 2) + bytes(8))
    for path, (data, compressed) in files.items():
        stored = struct.pack(">I", len(data)) + zlib.compress(data) if compressed else data
        at = len(payload)
        payload.extend(struct.pack(">I", len(stored)) + stored)
        nodes.append(struct.pack(">IHHHI", name(path.split("/")[1]), 0x01 if compressed else 0, 0, 0, at) + bytes(8))
    tree = b"".join(nodes)
    header = 20
    return b"qres" + struct.pack(">IIII", 2, header, header + len(tree), header + len(tree) + len(payload)) + tree + bytes(payload) + bytes(names)


def test_a_qt_resource_bundle_gives_each_file_with_its_path_and_bytes():
    bundle = qt_resources({"photos/a.jpg": (b"first picture", False), "photos/b.png": (b"second picture" * 20, True)})

    assert dict(read_qt_resources(bundle)) == {"photos/a.jpg": b"first picture", "photos/b.png": b"second picture" * 20}


def test_a_machine_readable_copyright_file_gives_its_licences_most_frequent_first():
    text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: GPL-2+\n\nFiles: a/*\nLicense: CC-BY-SA-3.0\n\nFiles: b/*\nLicense: CC-BY-SA-3.0\n"

    assert licence_summary(text) == "CC-BY-SA-3.0; GPL-2+"


def test_a_free_form_copyright_file_gives_the_licences_it_names():
    text = "The artwork is released under the Creative Commons Attribution-ShareAlike licence; the code under the GNU General Public License."

    assert licence_summary(text) == "free-form: CC-BY-SA, GPL"


def test_no_false_positive_in_n_uploads_bounds_the_rate_by_about_three_in_n():
    bound = upper_bound(0, 3000)

    assert bound == pytest.approx(1 - 0.05 ** (1 / 3000), rel=1e-6)
    assert bound == pytest.approx(3 / 3000, rel=0.01)


def test_the_bound_for_false_positives_seen_leaves_five_per_cent_chance_of_seeing_so_few():
    failures, trials = 2, 500
    bound = upper_bound(failures, trials)

    at_most = sum(comb(trials, k) * bound**k * (1 - bound) ** (trials - k) for k in range(failures + 1))

    assert at_most == pytest.approx(0.05, abs=1e-6)


def test_a_package_divided_by_content_sends_about_the_tuning_share_to_tuning():
    package = Package("broad", "1", "photo", Part.BY_CONTENT)
    digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(4000)]

    tuning = sum(split_of(package, digest) == Part.TUNING for digest in digests)

    assert abs(tuning / len(digests) - TUNING_PERCENT / 100) < 0.03


def test_a_package_of_one_part_sends_every_picture_there():
    package = Package("one", "1", "texture", Part.EVALUATION)

    assert {split_of(package, hashlib.sha256(str(n).encode()).hexdigest()) for n in range(200)} == {str(Part.EVALUATION)}


def test_a_picture_is_a_still_or_a_video_source_whatever_its_part():
    broad = Package("broad", "1", "photo", Part.BY_CONTENT)
    digests = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(2000)]
    pairs = {(split_of(broad, d), use_of(broad, d)) for d in digests}

    # Both uses in both parts: the use is drawn from other digits of the SHA-256 than the part.
    assert pairs == {(part, use) for part in (str(Part.TUNING), str(Part.EVALUATION)) for use in ("still", "video")}


def test_the_reserved_wallpapers_are_in_no_part():
    assert not {package.name for package in ALL_PACKAGES} & set(RESERVED)


def test_negative_and_reference_packages_are_apart():
    assert {p.part for p in NEGATIVE_PACKAGES} <= {Part.TUNING, Part.EVALUATION, Part.BY_CONTENT}
    assert {p.part for p in ALL_PACKAGES if p not in NEGATIVE_PACKAGES} == {Part.REFERENCE}


def test_a_mirrored_copy_is_a_near_duplicate_and_an_unrelated_picture_is_not():
    picture = detailed(1, 320, 240)
    kept = analyse(("a.png", image_bytes(picture)))
    mirrored = analyse(("b.png", image_bytes(np.ascontiguousarray(picture[:, ::-1]))))
    unrelated = analyse(("c.png", image_bytes(detailed(2, 320, 240))))
    duplicates = NearDuplicates()
    duplicates.keep(kept)

    assert duplicates.repeats(mirrored)
    assert not duplicates.repeats(unrelated)


def test_a_picture_near_an_excluded_hash_is_excluded():
    candidate = analyse(("a.png", image_bytes(detailed(3, 320, 240))))

    assert NearDuplicates(excluded=[candidate.pdq]).excludes(candidate)
    assert not NearDuplicates().excludes(candidate)


@pytest.mark.parametrize(
    "picture, reason",
    [
        (detailed(4, 100, 80), "small"),
        (detailed(4, 700, 150), "strip"),
        (np.full((200, 200, 3), 90, np.uint8), "few grey levels"),
    ],
    ids=["small", "strip", "flat"],
)
def test_pictures_nobody_would_upload_are_not_negatives(picture, reason):
    assert analyse(("x.png", image_bytes(picture))).reject == reason


def test_a_mostly_transparent_picture_is_not_a_negative():
    rgba = np.dstack([detailed(5, 200, 200), np.zeros((200, 200), np.uint8)])

    assert analyse(("sprite.png", image_bytes(rgba))).reject == "transparent"


def test_a_video_recipe_is_the_same_for_the_same_pictures(tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    keys = ["aa" * 32, "bb" * 32]

    assert negative_recipe(paths, keys) == negative_recipe(paths, keys)
    assert negative_recipe(paths, keys) != negative_recipe(paths, ["cc" * 32, "bb" * 32])


def test_a_fixed_gop_video_has_a_keyframe_every_gop(tmp_path):
    picture = tmp_path / "a.png"
    Image.fromarray(detailed(6, 320, 240)).save(picture)
    recipe = Recipe((Shot(picture, 3.0, "pan", (0.0, 0.0), (1.0, 1.0), False),), (160, 96), Fraction(10), "x264 GOP 1 s")

    frames = encode(recipe, tmp_path / "video.mp4")

    with av.open(str(tmp_path / "video.mp4")) as container:
        keyframes = [packet.pts for packet in container.demux(container.streams.video[0]) if packet.size and packet.is_keyframe]
    assert frames == 30 and len(keyframes) == 3


def test_the_report_names_each_false_positive_by_its_place_in_the_corpus_and_says_what_matched_it(tmp_path):
    from hashmatch.hash_set.snapshot import HashSetSnapshot
    from hashmatch_tools.evaluation.negatives.false_positives import CountingFeatureIndex, KindTally, UploadRecord, report
    from hashmatch_tools.evaluation.negatives.references import ReferenceSet
    from hashmatch_tools.evaluation.pipeline import Decision

    evidence = "still/0123 (orb, query_share: 41 inliers (at least 30); 1 upload frames, 100 % of the upload, 100 % of the reference)"
    tally = KindTally("picture")
    tally.add(UploadRecord(str(tmp_path / "pictures" / "some-package" / "a.png"), Decision.MATCHED, ("still/0123",), "", True, 1, 8, 0.1, 1, 1, (evidence,)))

    text = report("evaluation", {"picture": tally}, HashSetSnapshot.build(media={}), CountingFeatureIndex(), ReferenceSet([], 0, 0.0), 1.0, 1.0, {"references": 0.0, "uploads": 0.0}, tmp_path)

    assert f"- false positive: pictures/some-package/a.png -> {evidence}" in text.splitlines()
