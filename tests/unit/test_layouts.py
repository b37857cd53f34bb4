"""The layout stage: PDQ of the parts of an upload's detail pictures finds a copy laid out beside unrelated content."""

from __future__ import annotations

from hashmatch.matching.assembly import hash_set_matcher, references_view
import numpy as np

from hashmatch.matching.layouts import LAYOUT_PARTS, LAYOUT_PROBES, _border_strength, _cut, part_hashes
from hashmatch.media.hashing import hash_media
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch.vocabulary import MatchRule, Role, Stage
from hashmatch_tools import adversarial as build
from hashmatch_tools.evaluation import alterations as alter
from hashmatch_tools.made_media import detailed, encode_video, image_bytes, panning, textured
from hashmatch_tools.matching import detail_pictures_of, hash_reference, two_stage_matcher


def matched(reference_rgb, upload_rgb):
    """The PDQ stages' result for a picture upload against one known picture (no local features)."""
    references = {"known": hash_media(image_bytes(reference_rgb), role=Role.REFERENCE)}
    upload = hash_media(image_bytes(upload_rgb))
    return hash_set_matcher(references_view(references), PRIMARY_SIGNAL.match_threshold).match(upload, detail_pictures_of(upload))


def test_the_parts_are_each_side_of_each_split_the_quarters_and_the_ninths():
    assert len(LAYOUT_PARTS) == 3 * 4 + 4 + 9
    assert (0.0, 1.0, 0.6, 1.0) in LAYOUT_PARTS and (1 / 3, 2 / 3, 1 / 3, 2 / 3) in LAYOUT_PARTS


def test_a_copy_squeezed_into_one_side_of_a_split_screen_is_found_by_its_part():
    known, other = textured(61, 640, 480), textured(62, 800, 600)

    result = matched(known, alter.split(known, other, side="right", share=0.4, fit="squeeze"))

    [(key, verdict)] = result.matches
    assert key == "known" and verdict.stage == Stage.PDQ and verdict.rule == MatchRule.QUERY_SHARE
    assert result.verdicts["known"].best_distance <= PRIMARY_SIGNAL.match_threshold


def test_a_copy_fitted_into_a_collage_tile_with_bars_is_found_once_its_bars_are_off():
    known = textured(63, 640, 480)
    others = [textured(64 + n, 800, 600) for n in range(3)]

    result = matched(known, alter.grid_collage(known, others, cells=2, position=1, fit="fit"))

    assert [key for key, _ in result.matches] == ["known"]


def test_a_collage_tile_off_the_nominal_third_is_cut_on_its_border_and_found():
    # 320 px in three tiles of 106 px: the centre tile starts at 106, not at a third (106.7), and ends at 212, not 213.
    # Fine detail, which a pixel's shift moves PDQ by tens of bits.
    known = detailed(2, 320, 240)
    others = [detailed(seed, 320, 240) for seed in (4, 5, 6, 7)]

    result = matched(known, build.collage(known, others, tiles=3, position=4))

    assert [key for key, _ in result.matches] == ["known"]


def test_a_cut_moves_onto_a_border_that_stands_out_near_it():
    picture = np.zeros((90, 300), np.uint8)
    picture[:, 97:] = 200  # a tile border at column 97, a third would be 100

    assert _cut(_border_strength(picture, 1), 1 / 3) == 97


def test_a_cut_stays_at_its_share_where_no_border_stands_out():
    rng = np.random.default_rng(5)
    picture = rng.integers(0, 255, (90, 300), dtype=np.uint8)

    assert _cut(_border_strength(picture, 1), 1 / 3) == 100


def test_a_cut_at_the_picture_s_edge_stays_there():
    picture = np.zeros((90, 300), np.uint8)
    picture[:, 3:] = 200

    assert (_cut(_border_strength(picture, 1), 0.0), _cut(_border_strength(picture, 1), 1.0)) == (0, 300)


def test_a_split_screen_of_unrelated_pictures_matches_nothing():
    result = matched(textured(70, 640, 480), alter.split(textured(71, 640, 480), textured(72, 800, 600), side="left", share=0.5, fit="squeeze"))

    assert result.matches == []


def test_plain_parts_give_no_hash():
    flat = textured(73, 640, 480) * 0 + 128

    assert part_hashes(flat[:, :, 0]) == []


def test_a_video_that_matches_nothing_has_only_its_probe_pictures_cut_into_parts(monkeypatch):
    import hashmatch.matching.layouts as layouts

    cut = []
    original = layouts.part_hashes
    monkeypatch.setattr(layouts, "part_hashes", lambda grey, *args: cut.append(grey.shape) or original(grey, *args))
    references = {"known": hash_media(image_bytes(textured(80, 640, 480)), role=Role.REFERENCE)}
    upload = hash_media(encode_video(panning(81, 160), fps=8))

    result = hash_set_matcher(references_view(references), PRIMARY_SIGNAL.match_threshold).match(upload, detail_pictures_of(upload))

    assert result.matches == [] and len(upload.detail_pictures) > LAYOUT_PROBES and len(cut) == LAYOUT_PROBES


def test_detail_pictures_are_read_once_however_many_stages_look_at_them():
    reads = []
    upload = hash_media(image_bytes(textured(90, 640, 480)))
    load = detail_pictures_of(upload)
    matcher = two_stage_matcher({"known": hash_reference(image_bytes(textured(91, 640, 480)))}, PRIMARY_SIGNAL.match_threshold)

    result = matcher.match(upload, lambda: reads.append(1) or load())

    assert result.stages == (Stage.PDQ, Stage.LOCAL_FEATURES) and reads == [1]
