"""The `hashmatch` command keeps its contract (issue 26, item 6): bad input is exit status 2 and one `hashmatch: error:` line, never a traceback.

One test per failure the issue lists (those that need a stack are in tests/functional/test_cli_contract.py),
then the other bad inputs found by trying every command with them.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from hashmatch.aws.settings import MAX_PDQ_MATCH_THRESHOLD
from hashmatch.hash_set.brute_force import HashIndex
from hashmatch.matching.lookup import HashAnswer
from hashmatch.media.hashing import hash_media
from hashmatch.vocabulary import Stage
from hashmatch_tools import admin, contract, lookup_client, offline
from hashmatch_tools.cli import main
from hashmatch_tools.made_media import image_bytes, textured
from hashmatch_tools.stack_outputs import STACK_VARIABLES

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    status: int
    out: str
    err: str

    @property
    def errors(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("hashmatch: error: ")]


def run(capsys, *arguments) -> Ran:
    status = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return Ran(status, captured.out, captured.err)


def assert_refused(ran: Ran, *named: str) -> str:
    """Exit 2, exactly one error line (naming each of `named`), no traceback; returns the line."""
    assert ran.status == 2, ran
    assert "Traceback" not in ran.err
    [line] = ran.errors
    for word in named:
        assert word in line, line
    return line


def pdq(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


@pytest.fixture
def listed(tmp_path) -> Path:
    """A plain PDQ list of three hashes."""
    path = tmp_path / "list.txt"
    path.write_text("".join(pdq(f"listed {n}") + "\n" for n in range(3)))
    return path


@pytest.fixture
def picture(tmp_path) -> Path:
    path = tmp_path / "picture.png"
    path.write_bytes(image_bytes(textured(71)))
    return path


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    """An environment with no AWS region, credentials, config or stack variables, and no retries."""
    for name in (
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", *STACK_VARIABLES,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.fixture
def some_credentials(monkeypatch, no_aws):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-secret")


@pytest.fixture
def silent_url() -> str:
    """An http URL on this machine where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------ 1. match --hashes MISSING


def test_match_with_a_hashes_file_that_does_not_exist_is_one_error_line(capsys, listed, tmp_path):
    ran = run(capsys, "match", "--hash-list", listed, "--hashes", tmp_path / "missing.txt")

    assert_refused(ran, "missing.txt", "No such file")
    assert ran.out == ""


# ------------------------------------------------------------------ 2. index build -o FOLDER


def test_index_build_into_a_folder_is_refused_before_any_work_and_writes_nothing(capsys, listed, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()

    ran = run(capsys, "index", "build", listed, "-o", folder)

    assert_refused(ran, str(folder), "folder")
    assert ran.out == "" and list(folder.iterdir()) == []


def test_a_write_that_fails_leaves_the_old_file_as_it_was_and_no_partial_file(tmp_path):
    target = tmp_path / "snapshot"
    target.write_bytes(b"the old one")

    def lines():
        yield "a first line\n"
        raise ValueError("the second cannot be made")

    with pytest.raises(ValueError):
        contract.WholeFile(target).write_lines(lines())

    assert target.read_bytes() == b"the old one" and [path.name for path in tmp_path.iterdir()] == ["snapshot"]


# ------------------------------------------------------------------ 3. --threshold bounded


@pytest.mark.parametrize("threshold", ["-5", "32", "1000000", "ten"])
def test_a_threshold_outside_what_the_index_finds_exactly_is_refused(capsys, listed, threshold):
    ran = run(capsys, "match", "--hash-list", listed, "--hashes", listed, "--threshold", threshold)

    assert_refused(ran, "--threshold", threshold)
    assert ran.out == ""


def test_the_largest_threshold_is_the_stacks_and_is_accepted(capsys, listed):
    ran = run(capsys, "match", "--hash-list", listed, "--hashes", listed, "--threshold", str(offline.MAX_THRESHOLD), "--json")

    assert offline.MAX_THRESHOLD == MAX_PDQ_MATCH_THRESHOLD
    assert ran.status == 0 and [len(json.loads(line)["matches"]) for line in ran.out.splitlines()] == [1, 1, 1]


# ------------------------------------------------------------------ 4. hashset without a region or credentials


def test_hashset_without_a_region_is_one_error_line(capsys, no_aws):
    ran = run(capsys, "admin", "hashset", "--table", "hash-set", "stats")

    assert_refused(ran, "AWS region", "--region")


def test_hashset_without_credentials_is_one_error_line(capsys, no_aws, silent_url):
    ran = run(capsys, "admin", "hashset", "--region", "eu-west-1", "--endpoint-url", silent_url, "--table", "hash-set", "stats")

    assert_refused(ran, "AWS credentials")


def test_hashset_against_an_endpoint_that_does_not_answer_is_one_error_line(capsys, some_credentials, silent_url):
    ran = run(capsys, "admin", "hashset", "--region", "eu-west-1", "--endpoint-url", silent_url, "--table", "hash-set", "stats")

    assert_refused(ran, silent_url, "cannot connect")


def test_the_other_admin_commands_without_a_region_are_one_error_line(capsys, no_aws):
    ran = run(capsys, "admin", "--table", "hash-set", "list-references")

    assert_refused(ran, "AWS region")


# (5. `admin hashset export --format pdq` of a set holding MD5 entries: tests/functional/test_cli_contract.py)

# ------------------------------------------------------------------ 6. index build writes nothing when nothing was read


def test_index_build_writes_nothing_when_every_input_failed(capsys, tmp_path):
    output = tmp_path / "hash-set.snapshot"

    ran = run(capsys, "index", "build", tmp_path / "missing.txt", "-o", output)

    assert_refused(ran, "missing.txt")
    assert ran.out == "" and not output.exists() and "not written" in ran.err


def test_index_build_leaves_an_earlier_snapshot_as_it_was_when_nothing_was_read(capsys, tmp_path):
    output = tmp_path / "hash-set.snapshot"
    output.write_bytes(b"an earlier snapshot")
    (tmp_path / "empty.txt").write_text("")

    ran = run(capsys, "index", "build", tmp_path / "empty.txt", "-o", output)

    assert_refused(ran, "empty.txt", "no hash-list entry")
    assert output.read_bytes() == b"an earlier snapshot"


def test_match_against_hash_lists_of_which_none_was_read_matches_nothing(capsys, listed, tmp_path):
    ran = run(capsys, "match", "--hash-list", tmp_path / "missing.txt", "--hashes", listed)

    assert_refused(ran, "missing.txt")
    assert ran.out == ""


# ------------------------------------------------------------------ 7. hash --json: local features only with --features


def test_hash_json_leaves_the_local_features_out_unless_asked_for(capsys, picture):
    plain = run(capsys, "hash", "--json", picture)
    featured = run(capsys, "hash", "--json", "--features", picture)

    assert "features" not in json.loads(plain.out)
    assert json.loads(featured.out)["features"][0]["descriptors"]


def test_hash_features_with_a_lookup_request_is_refused(capsys, picture):
    ran = run(capsys, "hash", "--lookup-request", "--features", picture)

    assert_refused(ran, "--features")
    assert ran.out == ""


# ------------------------------------------------------------------ 8. lookup requests and check carry the path


def test_each_lookup_request_line_names_its_file(capsys, picture, tmp_path):
    other = tmp_path / "other.png"
    other.write_bytes(image_bytes(textured(72)))

    ran = run(capsys, "hash", "--lookup-request", picture, other)

    lines = [json.loads(line) for line in ran.out.splitlines()]
    assert ran.status == 0 and [line["path"] for line in lines] == [str(picture), str(other)]
    assert lookup_client.read_hashes(ran.out.splitlines(), "f", []).paths == (str(picture), str(other), str(picture), str(other), str(picture), str(other))


def test_check_prints_the_file_each_answer_is_for():
    out = io.StringIO()
    answer = {"signal_type": "pdq", **HashAnswer(Stage.PDQ, pdq("asked")).to_dict(with_labels=False)}

    lookup_client._print(answer, "uploads/one.jpg", False, out)
    lookup_client._print(answer, "uploads/one.jpg", True, out)
    lookup_client._print(answer, None, False, out)
    lookup_client._print(answer, None, True, out)

    text, as_json, alone, alone_as_json = out.getvalue().splitlines()
    assert text.split("\t") == ["no", "-", "pdq", pdq("asked"), "uploads/one.jpg"]
    assert json.loads(as_json) == {**answer, "path": "uploads/one.jpg"}
    assert alone.split("\t")[4] == "-" and json.loads(alone_as_json) == answer


# ------------------------------------------------------------------ 9. a non-match reports the nearest distance


def test_a_hash_that_matches_nothing_reports_its_nearest_distance_computed_by_brute_force(capsys, listed, tmp_path):
    entries = listed.read_text().split()
    query = pdq("not listed")
    (tmp_path / "queries.txt").write_text(query + "\n")
    nearest = int(HashIndex(entries).distances([query]).min())

    as_json = run(capsys, "match", "--hash-list", listed, "--hashes", tmp_path / "queries.txt", "--json")
    as_text = run(capsys, "match", "--hash-list", listed, "--hashes", tmp_path / "queries.txt")

    assert nearest > offline.MAX_THRESHOLD
    assert json.loads(as_json.out) == {"query": query, "matches": [], "nearest_distance": nearest}
    assert as_text.out.split() == ["no", str(nearest), query]


def test_a_picture_that_matches_nothing_reports_the_nearest_distance_of_its_frames_and_their_variants(capsys, listed, picture):
    frames = [variant for frame in hash_media(picture).usable_frames for variant in frame.query_hashes]
    nearest = int(HashIndex(listed.read_text().split()).distances(frames).min())

    ran = run(capsys, "match", "--hash-list", listed, picture, "--json")

    assert ran.status == 0 and json.loads(ran.out) == {"query": str(picture), "matches": [], "nearest_distance": nearest}


def test_a_match_reports_its_own_distance_as_the_nearest(capsys, listed, tmp_path):
    near = f"{int(listed.read_text().split()[0], 16) ^ 0b111:064x}"  # three bits off the first entry
    (tmp_path / "queries.txt").write_text(near + "\n")

    ran = run(capsys, "match", "--hash-list", listed, "--hashes", tmp_path / "queries.txt", "--json")

    line = json.loads(ran.out)
    assert [match["distance"] for match in line["matches"]] == [3] and line["nearest_distance"] == 3


def test_the_nearest_distance_is_found_past_the_first_block_of_entries(monkeypatch):
    from hashmatch.hash_set.frame_index import FrameIndex

    rng = np.random.default_rng(5)
    entries = [f"{int.from_bytes(rng.bytes(32), 'big'):064x}" for _ in range(50)]
    queries = [f"{int.from_bytes(rng.bytes(32), 'big'):064x}" for _ in range(7)]
    frames = FrameIndex()
    frames.add_still(entries)
    monkeypatch.setattr(offline, "_NEAREST_PAIRS", 12)  # blocks of 12 entries, one query at a time

    found = offline.nearest_distances(frames, [[query] for query in queries] + [[]])

    assert found == [int(row.min()) for row in HashIndex(entries).distances(queries)] + [None]


# ------------------------------------------------------------------ 10. progress on a terminal, never on stdout


def test_index_build_and_match_show_progress_on_stderr_only(capsys, listed, picture, tmp_path):
    snapshot = tmp_path / "set.snapshot"

    built = run(capsys, "index", "build", listed, picture, "-o", snapshot, "--progress")
    matched = run(capsys, "match", "--index", snapshot, "--hashes", listed, picture, "--json", "--progress")

    assert built.status == 0 and "[1/2] reading" in built.err and "[2/2] reading" in built.err and json.loads(built.out)["snapshot"] == str(snapshot)
    assert matched.status == 0 and "reading" in matched.err and "[1/1] hashing" in matched.err
    assert all(line.startswith("{") for line in matched.out.splitlines()) and len(matched.out.splitlines()) == 4


def test_no_progress_when_stderr_is_not_a_terminal_or_with_no_progress(capsys, listed, tmp_path):
    quiet = run(capsys, "index", "build", listed, "-o", tmp_path / "a.snapshot")
    silenced = run(capsys, "index", "build", listed, "-o", tmp_path / "b.snapshot", "--no-progress")

    assert (quiet.status, quiet.err, silenced.status, silenced.err) == (0, "", 0, "")


# ------------------------------------------------------------------ 11. folders are walked


@pytest.fixture
def folder(tmp_path) -> Path:
    """Pictures in a folder and a subfolder, with a hidden file and a hidden folder that must be skipped."""
    root = tmp_path / "uploads"
    for relative, seed in (("b.png", 81), ("a/x.png", 82), ("a-b/y.png", 83), (".hidden.png", 84), (".cache/z.png", 85)):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image_bytes(textured(seed)))
    return root


def walked(root: Path) -> list[str]:
    return [str(root / "a" / "x.png"), str(root / "a-b" / "y.png"), str(root / "b.png")]


def test_hash_walks_a_folder_in_path_order_skipping_hidden_files(capsys, folder):
    ran = run(capsys, "hash", "--json", folder)

    assert ran.status == 0 and [json.loads(line)["path"] for line in ran.out.splitlines()] == walked(folder)


def test_compare_walks_a_folder_of_queries(capsys, folder):
    ran = run(capsys, "compare", "--json", folder / "b.png", folder)

    assert ran.status == 0 and [(json.loads(line)["query"], json.loads(line)["match"]) for line in ran.out.splitlines()] == [(path, path.endswith("b.png")) for path in walked(folder)]


def test_index_build_and_match_walk_folders(capsys, folder, tmp_path):
    snapshot = tmp_path / "folder.snapshot"

    built = run(capsys, "index", "build", folder, "-o", snapshot)
    matched = run(capsys, "match", "--index", snapshot, folder, "--json")

    assert built.status == 0 and json.loads(built.out)["references"] == 3
    lines = [json.loads(line) for line in matched.out.splitlines()]
    assert [line["query"] for line in lines] == walked(folder)
    assert [[match["reference"] for match in line["matches"]] for line in lines] == [["x.png"], ["y.png"], ["b.png"]]


def test_a_folder_without_files_is_one_error_line(capsys, tmp_path):
    (tmp_path / "nothing" / ".hidden").mkdir(parents=True)

    ran = run(capsys, "hash", tmp_path / "nothing")

    assert_refused(ran, "nothing", "without files")


def test_an_unreadable_file_in_a_folder_is_reported_and_the_others_hashed(capsys, folder):
    (folder / "notes.txt").write_text("not media\n")

    ran = run(capsys, "hash", "--json", folder)

    assert_refused(ran, "notes.txt")
    assert len(ran.out.splitlines()) == 3


# ------------------------------------------------------------------ 12. one spelling, stack variables


@pytest.mark.parametrize(
    ("arguments", "flag", "variable"),
    [
        (["admin", "list-references"], "--table", "HASHMATCH_HASH_SET_TABLE"),
        (["admin", "--table", "t", "add-reference", "known.png", "--label", "l", "--source", "s"], "--features-bucket", "HASHMATCH_REFERENCE_FEATURES_BUCKET"),
        (["admin", "legal-hold", "upload"], "--audit-table", "HASHMATCH_AUDIT_TABLE"),
        (["admin", "--audit-table", "a", "legal-hold", "upload"], "--evidence-bucket", "HASHMATCH_EVIDENCE_BUCKET"),
        (["admin", "revoke-exemption", "0" * 64, "--reason", "r", "--requested-by", "x"], "--audit-table", "HASHMATCH_AUDIT_TABLE"),
        (["admin", "restore", "upload", "--reason", "r"], "--url", "HASHMATCH_RESTORE_URL"),
        (["admin", "hashset", "stats"], "--table", "HASHMATCH_HASH_SET_TABLE"),
        (["admin", "--region", "eu-west-1", "--table", "t", "hashset", "reindex"], "--snapshot-bucket", "HASHMATCH_SNAPSHOT_BUCKET"),
        (["check", "--hashes", "hashes.txt"], "--url", "HASHMATCH_LOOKUP_URL"),
        (["review"], "--review-queue-url", "HASHMATCH_REVIEW_QUEUE_URL"),
        (["review", "--review-queue-url", "q", "--review-table", "r", "--audit-table", "a", "--hash-set-table", "h", "--details-bucket", "d"], "--reference-pictures-bucket", "HASHMATCH_REFERENCE_PICTURES_BUCKET"),
    ],
)
def test_a_missing_stack_resource_is_one_error_line_naming_its_flag_and_variable(capsys, no_aws, arguments, flag, variable):
    ran = run(capsys, *arguments)

    assert_refused(ran, flag, variable)


def test_stack_resources_default_to_their_variables(monkeypatch, no_aws):
    for variable in STACK_VARIABLES:
        monkeypatch.setenv(variable, f"from-{variable}")

    args = admin._parser().parse_args(["restore", "upload", "--reason", "r"])

    assert (args.table, args.features_bucket, args.snapshot_bucket, args.audit_table, args.evidence_bucket, args.url) == tuple(
        f"from-{variable}" for variable in ("HASHMATCH_HASH_SET_TABLE", "HASHMATCH_REFERENCE_FEATURES_BUCKET", "HASHMATCH_SNAPSHOT_BUCKET", "HASHMATCH_AUDIT_TABLE", "HASHMATCH_EVIDENCE_BUCKET", "HASHMATCH_RESTORE_URL")
    )


def test_the_former_spellings_still_run_the_admin_commands(capsys, no_aws):
    former = run(capsys, "hashset", "--table", "hash-set", "stats")
    module = admin.main(["hashset", "--table", "hash-set", "stats"])

    assert_refused(former, "AWS region")
    assert module == 2 and "AWS region" in capsys.readouterr().err


# Where an admin command is spelled for a reader: `hashmatch admin ...` only.
FORMER_SPELLINGS = re.compile(r"python -m hashmatch_tools\.admin|(?<!admin )hashmatch hashset\b")
DOCUMENTED = ["README.md", "template.yaml", "Makefile", "docs/*.md", "scripts/*.py", "functions/*/app.py", "shared/**/*.py"]


def test_the_admin_commands_are_documented_in_one_spelling():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for pattern in DOCUMENTED
        for path in sorted(ROOT.glob(pattern))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if FORMER_SPELLINGS.search(line)
    ]

    assert found == []


# ------------------------------------------------------------------ the other commands, tried with bad input


def test_a_usage_error_is_one_line(capsys):
    assert_refused(run(capsys), "required")
    assert_refused(run(capsys, "match", "--index"), "--index")


def test_match_with_nothing_to_match_is_one_line(capsys, listed):
    assert_refused(run(capsys, "match", "--hash-list", listed), "nothing to match")


def test_match_with_an_empty_hashes_file_is_one_line(capsys, listed, tmp_path):
    (tmp_path / "empty.txt").write_text("# only a comment\n")

    assert_refused(run(capsys, "match", "--hash-list", listed, "--hashes", tmp_path / "empty.txt"), "empty.txt", "no PDQ hash")


def test_match_reads_bytes_that_are_not_utf8_in_a_list_as_a_bad_line(capsys, listed, tmp_path):
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes(listed.read_bytes() + b"\xff\xfe not text\n")

    ran = run(capsys, "match", "--hash-list", mixed, "--hashes", listed, "--format", "pdq", "--json")

    assert_refused(ran, "mixed.txt:4")
    assert [len(json.loads(line)["matches"]) for line in ran.out.splitlines()] == [1, 1, 1]


def test_match_against_a_snapshot_that_is_a_folder_is_one_line(capsys, listed, tmp_path):
    assert_refused(run(capsys, "match", "--index", tmp_path, "--hashes", listed), str(tmp_path))


def test_compare_with_a_folder_as_reference_is_one_line(capsys, folder):
    ran = run(capsys, "compare", folder, folder / "b.png")

    assert_refused(ran, str(folder))
    assert ran.out == ""


def test_check_with_a_url_that_is_not_http_is_one_line(capsys, listed):
    assert_refused(run(capsys, "check", "--hashes", listed, "--url", "lookup.example"), "--url", "http")


def test_check_with_a_hashes_file_of_bytes_that_are_not_utf8_names_the_bad_line(capsys, tmp_path):
    (tmp_path / "hashes.txt").write_bytes(b"\xff\xfe\x00\n")

    ran = run(capsys, "check", "--hashes", tmp_path / "hashes.txt", "--url", "http://lookup.example/")

    assert_refused(ran, "hashes.txt:1")


def test_check_against_a_url_that_does_not_answer_is_one_line_and_exit_1(capsys, listed, some_credentials, silent_url):
    ran = run(capsys, "check", "--hashes", listed, "--url", silent_url, "--region", "eu-west-1", "--timeout", "5")

    [line] = ran.errors
    assert ran.status == 1 and "cannot reach" in line and "Traceback" not in ran.err and ran.out == ""


def test_check_without_credentials_is_one_line(capsys, listed, no_aws):
    assert_refused(run(capsys, "check", "--hashes", listed, "--url", "http://lookup.example/", "--region", "eu-west-1"), "AWS credentials")


@pytest.mark.parametrize("command", ["allow", "remove"])
def test_admin_hashset_with_a_hash_that_is_not_one_names_it(capsys, some_credentials, silent_url, command):
    options = ["--region", "eu-west-1", "--endpoint-url", silent_url, "--table", "hash-set"]

    ran = run(capsys, "admin", "hashset", *options, command, "pdq:not-a-hash", "--reason", "r") if command == "allow" else run(capsys, "admin", "hashset", *options, command, "md5:" + "0" * 64)

    assert_refused(ran, "not a hash")


def test_review_will_not_serve_beyond_the_loopback(capsys, no_aws):
    assert_refused(run(capsys, "review", "--host", "0.0.0.0"), "--host 0.0.0.0", "binds to 127.0.0.1 only")


def test_review_names_every_stack_resource_it_lacks_in_one_line(capsys, no_aws):
    line = assert_refused(run(capsys, "review", "--review-table", "r"))

    assert "--review-table" not in line and all(variable in line for variable in ("HASHMATCH_REVIEW_QUEUE_URL", "HASHMATCH_RESTORE_URL", "HASHMATCH_EVIDENCE_RETENTION_DAYS"))


def test_admin_revoke_exemption_with_an_object_that_is_not_an_s3_uri_is_one_line(capsys, no_aws):
    ran = run(capsys, "admin", "--audit-table", "audit", "revoke-exemption", "0" * 64, "--object", "bucket/key", "--reason", "r", "--requested-by", "x")

    assert_refused(ran, "--object", "s3://")
