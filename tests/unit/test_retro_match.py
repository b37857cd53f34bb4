"""Retro-match's one SQL text on DuckDB over Parquet log files, and the live Matcher's verdict on what it finds."""

from __future__ import annotations

import random

import pytest

from hashmatch.aws.athena import literal, result_rows
from hashmatch.upload_log.duckdb_engine import DuckDbEngine
from hashmatch.model import FrameHashes, MediaHashes
from hashmatch.upload_log.retro_match import DUCKDB_COMPATIBILITY, MAX_EXACT_THRESHOLD, RETRO_CANDIDATES_SQL, logged_uploads, probe_rows, retro_match, retro_match_id
from hashmatch.hash_set.snapshot import ENTRY_KIND, KnownItemState, KnownItem
from hashmatch.upload_log.records import log_messages, log_rows, parquet_files
from hashmatch.vocabulary import MediaKind, Role
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD

DAY = "2026-12-04"


def random_hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def flipped(text: str, bits: int, rng: random.Random) -> str:
    value = int(text, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def upload(name: str, frames: list[tuple[str, int, tuple[str, ...]]], kind: MediaKind = MediaKind.VIDEO, sha256: str = "") -> tuple[dict, MediaHashes]:
    hashes = MediaHashes(
        kind=kind,
        format="mp4",
        duration=2.0 * len(frames),
        width=640,
        height=360,
        md5="",
        sha256=sha256,
        role=Role.UPLOAD,
        frames=tuple(FrameHashes(timestamp=2.0 * i, pdq=h, quality=q, variants=v) for i, (h, q, v) in enumerate(frames)),
    )
    return {"upload_id": f"s3://uploads/{name}", "bucket": "uploads", "key": name, "version_id": None, "etag": "e", "size": 1, "uploaded_at": "2026-12-01T00:00:00Z"}, hashes


def write_log(directory, uploads: list[tuple[dict, MediaHashes]], day: str = DAY, batch: str = "b") -> None:
    messages = [m for identity, hashes in uploads for m in log_messages(identity, hashes, f"{day}T00:00:00Z", f"{day}T00:00:01Z")]
    for key, body in parquet_files(log_rows(messages), batch).items():
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def still_entry(pdq: str) -> KnownItemState:
    return KnownItemState(KnownItem(f"pdq:{pdq}", ("listed",), "a list", ENTRY_KIND))


def video_reference(key: str, frames: list[str]) -> KnownItemState:
    return KnownItemState(KnownItem(key, ("known video",), "tests", "video", duration=2.0 * len(frames)), frames=tuple((2.0 * i, h) for i, h in enumerate(frames)))


def test_the_sql_finds_exactly_the_uploads_brute_force_finds_within_the_threshold(tmp_path):
    rng = random.Random(7)
    references = [random_hash(rng) for _ in range(3)]
    uploads, expected = [], set()
    for number in range(400):
        bits = rng.choice([0, 5, 20, 29, 30, 31, 32, 33, 40, 128])
        own = flipped(rng.choice(references), bits, rng) if number % 3 == 0 else random_hash(rng)
        variant = flipped(references[0], 31, rng) if number % 50 == 1 else random_hash(rng)
        identity, hashes = upload(f"u{number}", [(own, 90, (variant,)), (random_hash(rng), 90, ())])
        uploads.append((identity, hashes))
        if min(distance(h, r) for h in (own, variant) for r in references) <= 31:
            expected.add(identity["upload_id"])
    write_log(tmp_path, uploads)
    engine = DuckDbEngine(tmp_path)
    states = [still_entry(r) for r in references]
    engine.put_probes("run", "references", probe_rows(states, "run"))

    rows = engine.query(RETRO_CANDIDATES_SQL, ["run", DAY, 50, 31, "run", DAY, "run", DAY])

    assert {row["upload_id"] for row in rows} == expected
    assert len(expected) > 20



def worst_case(reference: str, lone_chunk: int, lone_bit: int) -> str:
    """`reference` 31 bits away with only one of its sixteen 16-bit chunks within one bit: bit `lone_bit` of chunk
    `lone_chunk` flipped, and two bits of every other chunk (the most the chunk probes must still find)."""
    value = int(reference, 16)
    for chunk in range(16):
        low = 256 - 16 * (chunk + 1)  # the chunk's lowest bit in the 256-bit number (chunk 0 is the first four hex digits)
        for bit in ([lone_bit] if chunk == lone_chunk else [(lone_bit + 5) % 16, (lone_bit + 11) % 16]):
            value ^= 1 << (low + bit)
    return f"{value:064x}"


def test_a_logged_frame_31_bits_away_is_found_whichever_single_bit_of_whichever_chunk_is_its_only_near_one(tmp_path):
    reference = random_hash(random.Random(11))
    copies = {(chunk, bit): worst_case(reference, chunk, bit) for chunk in range(16) for bit in range(16)}
    assert {distance(copy, reference) for copy in copies.values()} == {31}
    write_log(tmp_path, [upload(f"copy-{chunk}-{bit}.jpg", [(copy, 90, ())], MediaKind.IMAGE) for (chunk, bit), copy in copies.items()])

    run = retro_match(DuckDbEngine(tmp_path), [still_entry(reference)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    missed = sorted(set(f"copy-{chunk}-{bit}.jpg" for chunk, bit in copies) - {m.logged.upload["key"] for m in run.matches})
    assert missed == [] and run.candidates == len(copies)

def test_frames_of_low_quality_are_not_searched(tmp_path):
    reference = random_hash(random.Random(1))
    write_log(tmp_path, [upload("blurry", [(reference, 40, ())], MediaKind.IMAGE)])

    run = retro_match(DuckDbEngine(tmp_path), [still_entry(reference)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert run.candidates == 0 and run.matches == []


def test_a_listed_hash_matches_a_logged_picture_with_its_distance(tmp_path):
    rng = random.Random(2)
    reference = random_hash(rng)
    write_log(tmp_path, [upload("copy.jpg", [(flipped(reference, 12, rng), 90, ())], MediaKind.IMAGE), upload("other.jpg", [(random_hash(rng), 90, ())], MediaKind.IMAGE)])

    run = retro_match(DuckDbEngine(tmp_path), [still_entry(reference)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    [found] = run.matches
    assert found.logged.upload["upload_id"] == "s3://uploads/copy.jpg"
    [(key, verdict)] = found.matches
    assert key == f"pdq:{reference}" and verdict.best_distance == 12


def test_a_mirrored_copy_matches_through_its_logged_variant(tmp_path):
    rng = random.Random(3)
    reference = random_hash(rng)
    write_log(tmp_path, [upload("mirrored.jpg", [(random_hash(rng), 90, (random_hash(rng), flipped(reference, 3, rng)))], MediaKind.IMAGE)])

    run = retro_match(DuckDbEngine(tmp_path), [still_entry(reference)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert [m.logged.upload["key"] for m in run.matches] == ["mirrored.jpg"]


def test_a_video_sharing_one_frame_with_a_reference_is_a_candidate_but_not_a_match(tmp_path):
    rng = random.Random(4)
    reference_frames = [random_hash(rng) for _ in range(20)]
    one_frame = [(flipped(reference_frames[3], 4, rng), 90, ())] + [(random_hash(rng), 90, ()) for _ in range(19)]
    copy = [(flipped(h, 10, rng), 90, ()) for h in reference_frames[:12]]
    write_log(tmp_path, [upload("one-frame.mp4", one_frame), upload("copy.mp4", copy)])

    run = retro_match(DuckDbEngine(tmp_path), [video_reference("ref-video", reference_frames)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert run.candidates == 2
    [found] = run.matches
    assert found.logged.upload["key"] == "copy.mp4"
    assert found.matches[0][1].query_match_percent == 100.0


def test_a_listed_sha256_matches_the_logged_upload_with_those_bytes(tmp_path):
    rng = random.Random(5)
    write_log(tmp_path, [upload("exact.mp4", [(random_hash(rng), 90, ())], sha256="ab" * 32), upload("else.mp4", [(random_hash(rng), 90, ())], sha256="cd" * 32)])
    entry = KnownItemState(KnownItem("sha256:" + "ab" * 32, ("listed",), "a list", ENTRY_KIND))

    run = retro_match(DuckDbEngine(tmp_path), [entry], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    [found] = run.matches
    assert found.logged.upload["key"] == "exact.mp4" and found.matches[0][1].stage == "sha256"


def test_days_before_the_window_are_not_searched(tmp_path):
    rng = random.Random(6)
    reference = random_hash(rng)
    write_log(tmp_path, [upload("old.jpg", [(reference, 90, ())], MediaKind.IMAGE)], day="2026-05-01", batch="old")
    write_log(tmp_path, [upload("new.jpg", [(reference, 90, ())], MediaKind.IMAGE)], day=DAY, batch="new")

    run = retro_match(DuckDbEngine(tmp_path), [still_entry(reference)], "2026-06-07", PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert [m.logged.upload["key"] for m in run.matches] == ["new.jpg"]


def test_rows_a_retried_log_batch_wrote_twice_count_once(tmp_path):
    rng = random.Random(8)
    reference_frames = [random_hash(rng) for _ in range(4)]
    copy = upload("copy.mp4", [(h, 90, ()) for h in reference_frames])
    write_log(tmp_path, [copy], batch="first")
    write_log(tmp_path, [copy], batch="retried")

    run = retro_match(DuckDbEngine(tmp_path), [video_reference("ref", reference_frames)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    [found] = run.matches
    assert len(found.logged.hashes.frames) == 4


def test_an_empty_log_finds_nothing(tmp_path):
    run = retro_match(DuckDbEngine(tmp_path), [still_entry("ab" * 32)], DAY, PDQ_CONFIDENT_MATCH_THRESHOLD)

    assert run.candidates == 0


def test_a_threshold_beyond_what_the_chunk_probes_guarantee_is_refused(tmp_path):
    with pytest.raises(ValueError, match=str(MAX_EXACT_THRESHOLD)):
        retro_match(DuckDbEngine(tmp_path), [still_entry("ab" * 32)], DAY, threshold=MAX_EXACT_THRESHOLD + 1)


def test_the_match_id_depends_only_on_the_upload_and_the_references():
    assert retro_match_id("u", ["b", "a"]) == retro_match_id("u", ["a", "b"]) != retro_match_id("u", ["a"])


def test_duckdb_is_given_the_trino_functions_the_sql_uses_and_nothing_else():
    for function in ("bitwise_xor", "bitwise_and", "bitwise_right_shift", "bit_count"):
        assert f"{function}(" in RETRO_CANDIDATES_SQL
        assert any(f"MACRO {function}(" in statement for statement in DUCKDB_COMPATIBILITY)


def test_logged_rows_become_the_upload_the_matcher_saw():
    rows = [
        {"upload_id": "u", "kind": "video", "frame": 1, "variant": 0, "timestamp": 2.0, "quality": 80, "h0": -1, "h1": 0, "h2": 1, "h3": 2, "checked_at": DAY, "frames_hashed": 2},
        {"upload_id": "u", "kind": "video", "frame": 0, "variant": 1, "timestamp": 0.0, "quality": 90, "h0": 3, "h1": 3, "h2": 3, "h3": 3, "checked_at": DAY, "frames_hashed": 2},
        {"upload_id": "u", "kind": "video", "frame": 0, "variant": 0, "timestamp": 0.0, "quality": 90, "h0": 0, "h1": 0, "h2": 0, "h3": 0, "checked_at": DAY, "frames_hashed": 2},
    ]

    [logged] = logged_uploads(rows)

    assert [frame.timestamp for frame in logged.hashes.frames] == [0.0, 2.0]
    assert logged.hashes.frames[0].pdq == "0" * 64 and logged.hashes.frames[0].variants == (f"{3:016x}" * 4,)
    assert logged.hashes.frames[1].pdq == "f" * 16 + "0" * 15 + "0" + "0" * 15 + "1" + "0" * 15 + "2"


def test_athena_parameters_are_sql_literals():
    assert [literal(v) for v in ("it's", 31, None, True)] == ["'it''s'", "31", "NULL", "true"]


def test_athena_results_are_typed_by_their_columns():
    page = {
        "ResultSet": {
            "ResultSetMetadata": {"ColumnInfo": [{"Name": "upload_id", "Type": "varchar"}, {"Name": "h0", "Type": "bigint"}, {"Name": "timestamp", "Type": "double"}]},
            "Rows": [{"Data": [{"VarCharValue": "upload_id"}, {"VarCharValue": "h0"}, {"VarCharValue": "timestamp"}]}, {"Data": [{"VarCharValue": "u"}, {"VarCharValue": "-5"}, {}]}],
        }
    }

    assert result_rows([page]) == [{"upload_id": "u", "h0": -5, "timestamp": None}]
