import io

import numpy as np
import pytest
from PIL import Image

from hashmatch.matching.local_features.candidates import CandidateIndex
from hashmatch.matching.local_features.index import BruteForceFeatureIndex, LocalFeatureIndex, LocalFeatureLayers
from hashmatch.matching.local_features.orb import CANDIDATES, MIN_INLIERS, extract, features_of_detail_picture, inliers
from hashmatch.media.hashing import encode_detail_picture, hash_media
from hashmatch.model import LocalFeatures, MediaHashes
from hashmatch_tools.matching import compare as compare_at, hash_reference
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch_tools.made_media import detailed, encode_video, image_bytes, textured


def compare(reference, upload):
    """The verdict at the deployed PDQ threshold."""
    return compare_at(reference, upload, PDQ_CONFIDENT_MATCH_THRESHOLD)


def grey(rgb):
    return np.asarray(Image.fromarray(rgb).convert("L"))


def crop(rgb, share):
    h, w = rgb.shape[:2]
    return np.ascontiguousarray(rgb[int(h * share) : h - int(h * share), int(w * share) : w - int(w * share)])


def inset(rgb, background, scale=0.4):
    """The picture shrunk into a corner of another one (picture-in-picture)."""
    h, w = background.shape[:2]
    small = np.asarray(Image.fromarray(rgb).resize((int(w * scale), int(rgb.shape[0] * w * scale / rgb.shape[1]))))
    out = background.copy()
    out[20 : 20 + small.shape[0], w - small.shape[1] - 20 : w - 20] = small
    return out


def test_a_cropped_picture_is_verified_by_its_keypoints():
    picture = detailed(1, 800, 600)
    assert inliers(extract(grey(crop(picture, 0.1))), extract(grey(picture))) >= MIN_INLIERS


def test_a_picture_inside_another_is_verified():
    picture, background = detailed(2, 800, 600), textured(3, 1024, 576)
    assert inliers(extract(grey(inset(picture, background))), extract(grey(picture))) >= MIN_INLIERS


def test_a_verification_asked_for_at_least_the_threshold_counts_the_same_inliers_above_it():
    picture = extract(grey(detailed(1, 800, 600)))
    copy = extract(grey(crop(detailed(1, 800, 600), 0.1)))
    assert inliers(copy, picture, at_least=MIN_INLIERS) == inliers(copy, picture) >= MIN_INLIERS


def test_a_verification_with_too_few_matches_for_the_threshold_gives_none():
    unrelated = extract(grey(detailed(4, 800, 600))), extract(grey(detailed(5, 800, 600)))
    assert inliers(*unrelated, at_least=len(unrelated[0]) + 1) == 0


def test_an_unrelated_picture_is_not_verified():
    assert inliers(extract(grey(detailed(4, 800, 600))), extract(grey(detailed(5, 800, 600)))) < MIN_INLIERS


def test_a_flat_picture_has_no_features_and_verifies_nothing():
    flat = extract(np.full((200, 200), 128, np.uint8))
    assert len(flat) == 0 and inliers(flat, extract(grey(textured(6)))) == 0


def test_features_round_trip_through_their_json_form():
    features = extract(grey(textured(7, 400, 300)))
    again = LocalFeatures.from_dict(features.to_dict())
    assert np.array_equal(again.descriptors, features.descriptors)
    assert np.abs(again.points - features.points).max() <= 0.5


def test_feature_index_finds_the_reference_frame_a_query_comes_from():
    index = LocalFeatureIndex()
    index.add("a", [(0.0, extract(grey(detailed(8, 800, 600)))), (1.0, extract(grey(detailed(9, 800, 600))))], duration=2.0)
    index.add("b", [(0.0, extract(grey(detailed(10, 800, 600))))], duration=1.0)
    (hit,) = index.search(extract(grey(crop(detailed(9, 800, 600), 0.08))))
    assert (hit.reference, hit.timestamp, hit.span) == ("a", 1.0, 1.0) and hit.inliers >= MIN_INLIERS


def test_feature_index_verifies_only_the_few_candidates_its_hash_tables_choose():
    index = LocalFeatureIndex()
    for seed in range(20, 32):
        index.add(f"r{seed}", [(0.0, extract(grey(detailed(seed, 640, 480))))], duration=1.0)
    chosen = index._candidates(extract(grey(crop(detailed(25, 640, 480), 0.08))))
    assert len(chosen) <= CANDIDATES and index._frame(chosen[0])[0] == "r25"


def test_feature_index_gives_the_brute_force_verdicts():
    frames = {f"r{seed}": extract(grey(detailed(seed, 640, 480))) for seed in range(40, 46)}
    indexed, brute = LocalFeatureIndex(), BruteForceFeatureIndex()
    for key, features in frames.items():
        indexed.add(key, [(0.0, features)], duration=1.0)
        brute.add(key, [(0.0, features)], duration=1.0)
    for query in (extract(grey(crop(detailed(43, 640, 480), 0.1))), extract(grey(inset(detailed(41, 640, 480), textured(47, 1024, 576))))):
        assert [hit.reference for hit in indexed.search(query)] == [hit.reference for hit in brute.search(query)] != []
    assert indexed.search(extract(grey(detailed(48, 640, 480)))) == brute.search(extract(grey(detailed(48, 640, 480)))) == []


def test_an_uploads_pictures_searched_on_threads_give_what_one_by_one_gives():
    index = LocalFeatureIndex()
    for seed in range(60, 66):
        index.add(f"r{seed}", [(0.0, extract(grey(detailed(seed, 640, 480))))], duration=1.0)
    queries = [extract(grey(crop(detailed(seed, 640, 480), 0.1))) for seed in (61, 64, 63, 69)]
    one_by_one = [index.search(query) for query in queries]
    assert index.search_all(queries, threads=2) == one_by_one
    assert [[hit.reference for hit in hits] for hits in one_by_one] == [["r61"], ["r64"], ["r63"], []]


def test_frames_added_after_a_search_are_found():
    index = LocalFeatureIndex()
    index.add("a", [(0.0, extract(grey(detailed(50, 640, 480))))], duration=1.0)
    assert index.search(extract(grey(crop(detailed(51, 640, 480), 0.08)))) == []
    index.add("b", [(0.0, extract(grey(detailed(51, 640, 480))))], duration=1.0)
    assert [hit.reference for hit in index.search(extract(grey(crop(detailed(51, 640, 480), 0.08))))] == ["b"]


def test_a_cropped_upload_is_caught_by_the_local_feature_stage():
    picture = detailed(11, 800, 600)
    verdict = compare(hash_reference(image_bytes(picture)), hash_media(image_bytes(crop(picture, 0.08))))
    assert verdict.match and verdict.stage == "orb" and verdict.best_distance is None


def test_a_plain_copy_is_decided_by_pdq_without_the_second_stage():
    picture = detailed(12, 800, 600)
    verdict = compare(hash_reference(image_bytes(picture)), hash_media(image_bytes(picture, "JPEG")))
    assert verdict.match and verdict.stage == "pdq" and verdict.best_inliers is None


def test_a_picture_in_picture_video_is_caught():
    canvas = detailed(13, 480 + 3 * 40, 360)
    frames = [np.ascontiguousarray(canvas[:, 3 * i : 3 * i + 480]) for i in range(40)]
    background = textured(14, 1024, 576)
    reference = hash_reference(encode_video(frames))
    verdict = compare(reference, hash_media(encode_video([inset(f, background) for f in frames])))
    assert verdict.match and verdict.stage == "orb"


def test_a_still_reference_video_keeps_one_feature_frame_for_all_its_seconds():
    still = detailed(60, 480, 360)
    reference = hash_reference(encode_video([still] * 100, fps=20))
    assert reference.duration >= 4.9 and [frame.timestamp for frame in reference.features] == [0.0]


def test_a_moving_reference_video_keeps_a_feature_frame_a_second():
    canvas = detailed(61, 480 + 2 * 400, 360)
    reference = hash_reference(encode_video([np.ascontiguousarray(canvas[:, 2 * i : 2 * i + 480]) for i in range(400)], fps=20))
    assert reference.duration >= 19.9 and len(reference.features) == 20


def test_a_short_moving_reference_video_keeps_sixteen_feature_frames_spread_over_it():
    # An upload's instants fall anywhere in their cells (keyed sampling): a 5 s reference with a picture a second would leave them far from one.
    canvas = detailed(61, 480 + 8 * 100, 360)
    reference = hash_reference(encode_video([np.ascontiguousarray(canvas[:, 8 * i : 8 * i + 480]) for i in range(100)], fps=20))
    assert len(reference.features) == 16


def test_a_crop_of_a_still_reference_video_is_caught_across_its_length():
    still = detailed(62, 480, 360)
    reference = hash_reference(encode_video([still] * 100, fps=20))
    verdict = compare(reference, hash_media(encode_video([crop(still, 0.1)] * 100, fps=20)))
    assert verdict.match and verdict.stage == "orb"


def test_hashing_takes_no_local_features_unless_given_an_extractor():
    assert hash_media(image_bytes(textured(15)), role="reference").features == ()


def test_media_hashes_keep_their_features_through_json():
    hashes = hash_reference(image_bytes(textured(16)))
    again = MediaHashes.from_dict(hashes.to_dict())
    assert len(again.features) == 1 and np.array_equal(again.features[0].features.descriptors, hashes.features[0].features.descriptors)


def test_an_upload_carries_detail_pictures_not_features():
    upload = hash_media(image_bytes(crop(detailed(17, 800, 600), 0.08)))
    assert upload.features == () and len(upload.detail_pictures) == 1


def test_a_detail_picture_shipped_as_jpeg_keeps_nearly_all_its_keypoints():
    picture = hash_media(image_bytes(detailed(18, 800, 600))).detail_pictures[0]
    shipped = features_of_detail_picture(encode_detail_picture(picture))
    assert shipped.timestamp == picture.timestamp and len(shipped.features) >= 0.9 * len(extract(picture.grey))


def test_feature_index_searches_past_the_matchers_training_set_limit():
    # OpenCV's brute-force matcher takes at most 2^18 - 1 training descriptors at once.
    rng = np.random.default_rng(0)
    index = LocalFeatureIndex()
    filler = [(float(i), LocalFeatures(np.zeros((1000, 2), np.float32), rng.integers(0, 256, (1000, 32), dtype=np.uint8))) for i in range(270)]
    index.add("noise", filler, duration=270.0)
    target = extract(grey(detailed(18, 800, 600)))
    index.add("target", [(0.0, target)], duration=1.0)
    (hit,) = index.search(LocalFeatures(target.points[:300], target.descriptors[:300]))
    assert hit.reference == "target" and hit.inliers >= MIN_INLIERS


def test_a_picture_too_small_for_keypoints_has_no_features_instead_of_an_error():
    assert len(extract(np.zeros((1, 1), np.uint8))) == 0 and len(extract(np.full((20, 300), 128, np.uint8))) == 0


def test_a_one_pixel_animated_gif_is_hashed_and_compared_without_an_error(tmp_path):
    frames = [Image.new("RGB", (1, 1), (40 * n, 0, 0)) for n in range(3)]
    path = tmp_path / "tiny.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)

    verdict = compare(hash_reference(path), hash_media(path))

    assert verdict.query_frames == 0 and not verdict.match  # no frame of quality >= 50: a clear no-match


def test_hashmatch_hash_takes_a_one_pixel_animated_gif(tmp_path, capsys):
    from hashmatch_tools.cli import main

    frames = [Image.new("RGB", (1, 1), (40 * n, 0, 0)) for n in range(3)]
    path = tmp_path / "tiny.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)

    # --json takes each sampled frame's local features: OpenCV failed an assertion on 1 x 1 pictures.
    assert main(["hash", "--json", "--features", str(path)]) == 0 and '"kind": "video"' in capsys.readouterr().out


def mirror_of(rgb):
    return np.ascontiguousarray(rgb[:, ::-1])


def test_a_mirrored_and_cropped_picture_is_caught_by_the_local_feature_stage():
    picture = detailed(15, 800, 600)
    verdict = compare(hash_reference(image_bytes(picture)), hash_media(image_bytes(crop(mirror_of(picture), 0.08))))
    assert verdict.match and verdict.stage == "orb"


def test_a_mirrored_and_cropped_video_is_caught_by_the_local_feature_stage():
    canvas = detailed(16, 480 + 3 * 40, 360)
    frames = [np.ascontiguousarray(canvas[:, 3 * i : 3 * i + 480]) for i in range(40)]
    reference = hash_reference(encode_video(frames))
    verdict = compare(reference, hash_media(encode_video([crop(mirror_of(f), 0.08) for f in frames])))
    assert verdict.match and verdict.stage == "orb"


def test_a_mirrored_unrelated_picture_is_not_caught():
    verdict = compare(hash_reference(image_bytes(detailed(17, 800, 600))), hash_media(image_bytes(crop(mirror_of(detailed(18, 800, 600)), 0.08))))
    assert not verdict.match


def test_pictures_with_too_few_keypoints_to_verify_are_not_counted_against_a_match():
    # A short clip recognisable by its first second only: the blank frames after it carry no evidence.
    picture = detailed(19, 480, 360)
    blank = np.full_like(picture, 140)
    reference = hash_reference(encode_video([picture] * 20 + [blank] * 60, fps=20))
    upload = hash_media(encode_video([crop(picture, 0.08)] * 20 + [crop(blank, 0.08)] * 60, fps=20))
    verdict = compare(reference, upload)
    assert verdict.match and verdict.stage == "orb" and verdict.query_frames < len(upload.detail_pictures)


def test_a_reference_is_recognisable_for_the_seconds_of_its_frames_with_enough_descriptors():
    index = LocalFeatureIndex()
    detail, blank = extract(grey(detailed(20, 640, 480))), extract(np.full((480, 640), 140, np.uint8))
    index.add("clip", [(0.0, detail), (1.0, detail), (2.0, blank), (3.0, blank)], duration=4.0)
    index.add("still", [(0.0, detail)], duration=0.0)
    assert index.recognisable_seconds() == {"clip": 2.0}


def test_mirror_probes_are_spread_over_the_upload_from_its_first_picture_to_its_last():
    from hashmatch.matching.local_features.stage import spread

    assert spread(16, 4) == [0, 5, 10, 15] and spread(3, 4) == [0, 1, 2] and spread(9, 1) == [4]


def test_matches_that_land_on_the_same_reference_keypoint_count_as_one_inlier():
    from hashmatch.matching.local_features.orb import explained_keypoints

    pairs = np.array([(0, 5), (1, 5), (2, 5), (3, 6), (4, 7)])
    assert explained_keypoints(pairs, np.array([True, True, True, True, False])) == 2
    assert explained_keypoints(pairs, np.ones(5, bool)) == 3


def test_keypoints_kept_are_spread_over_the_picture_not_taken_by_its_busiest_corner():
    import cv2

    from hashmatch.matching.local_features.orb import spread_over_grid

    # 90 strong corners crowded into the top-left cell, one weak corner in each of the other 15 cells.
    crowded = [cv2.KeyPoint(float(x % 10), float(x // 10), 31, -1, 100.0) for x in range(90)]
    spread = [cv2.KeyPoint(25.0 * (cell % 4) + 5, 25.0 * (cell // 4) + 5, 31, -1, 1.0) for cell in range(1, 16)]
    kept = spread_over_grid(crowded + spread, (100, 100), 20, grid=4)
    assert len(kept) == 20 and sum(k.response == 1.0 for k in kept) == 15


def indexed(seeds, width=640, height=480) -> LocalFeatureIndex:
    index = LocalFeatureIndex()
    for seed in seeds:
        index.add(f"r{seed}", [(0.0, extract(grey(detailed(seed, width, height)))), (1.0, extract(grey(detailed(seed + 100, width, height))))], duration=2.0)
    return index


def saved(index: LocalFeatureIndex, described=None) -> bytes:
    out = io.BytesIO()
    index.save(out, described)
    return out.getvalue()


def test_a_saved_feature_index_loads_to_the_same_hits_and_recognisable_seconds():
    index = indexed(range(70, 76))
    queries = [extract(grey(crop(detailed(seed, 640, 480), 0.08))) for seed in (72, 175, 90)]

    loaded, described = LocalFeatureIndex.load(saved(index, {"made by": "tests"}))

    assert loaded.search_all(queries, threads=1) == index.search_all(queries, threads=1)
    assert loaded.recognisable_seconds() == index.recognisable_seconds()
    assert described == {"made by": "tests"}


def test_a_loaded_feature_index_builds_nothing(monkeypatch):
    data = saved(indexed(range(70, 73)))
    monkeypatch.setattr(CandidateIndex, "build", lambda self: pytest.fail("a loaded index was built again"))

    loaded, _described = LocalFeatureIndex.load(data)
    monkeypatch.undo()

    assert loaded.candidate_index._order is not None and not loaded.candidate_index._order.flags.owndata


def test_a_feature_index_without_a_reference_never_finds_it_and_keeps_the_others():
    index = indexed(range(70, 76))
    query = extract(grey(crop(detailed(173, 640, 480), 0.08)))

    view = index.without(["r73"])

    assert [hit.reference for hit in index.search(query)] == ["r73"]
    assert view.search(query) == [] and "r73" not in view.recognisable_seconds()
    assert [hit.reference for hit in view.search(extract(grey(crop(detailed(74, 640, 480), 0.08))))] == ["r74"]
    assert len(view) == len(index) - 2


def test_a_view_without_references_and_the_index_it_came_from_are_not_added_to():
    index = indexed(range(70, 72))
    view = index.without(["r70"])

    for shared in (view, index):
        with pytest.raises(ValueError, match="views"):
            shared.add("r9", [(0.0, extract(grey(detailed(9, 640, 480))))], duration=1.0)


def test_layers_find_what_each_of_their_indexes_finds():
    first, second = indexed(range(70, 73)), indexed(range(80, 83))
    queries = [extract(grey(crop(detailed(seed, 640, 480), 0.08))) for seed in (71, 181, 95)]

    layers = LocalFeatureLayers([first, second])

    assert [[hit.reference for hit in hits] for hits in layers.search_all(queries, threads=1)] == [["r71"], ["r81"], []]
    assert layers.recognisable_seconds() == {**first.recognisable_seconds(), **second.recognisable_seconds()}
    assert len(layers) == len(first) + len(second)


def test_a_damaged_local_feature_snapshot_is_refused():
    data = bytearray(saved(indexed(range(70, 72))))

    with pytest.raises(ValueError):
        LocalFeatureIndex.load(bytes(data[:-4096]))
