"""The `hashmatch` command's contract against the local stack (issue 26, item 6): the failures that need a stack.

The others, and the contract itself, are tests/unit/test_cli_contract.py.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest
from tests.aws_fixtures import forget_source

from hashmatch_tools.cli import main
from hashmatch_tools.stack_outputs import STACK_VARIABLES

# variable -> the template's logical id of the resource whose name it holds
RESOURCES = {
    "HASHMATCH_HASH_SET_TABLE": "HashSetTable",
    "HASHMATCH_REFERENCE_FEATURES_BUCKET": "ReferenceFeaturesBucket",
    "HASHMATCH_SNAPSHOT_BUCKET": "SnapshotBucket",
    "HASHMATCH_AUDIT_TABLE": "AuditTable",
    "HASHMATCH_EVIDENCE_BUCKET": "EvidenceBucket",
}


@pytest.fixture
def stack_variables(stack, monkeypatch):
    """The HASHMATCH_* variables set as `make local-stack` prints them (the endpoint, region and keys are the stack's already)."""
    for variable in STACK_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable, logical_id in RESOURCES.items():
        monkeypatch.setenv(variable, stack.ref(logical_id))


@pytest.fixture
def source(hash_set):
    name = f"contract-{uuid.uuid4().hex[:8]}"
    yield name
    forget_source(hash_set, name)


def run(capsys, *arguments) -> tuple[int, str, str]:
    status = main([str(argument) for argument in arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_export_in_a_format_that_cannot_carry_md5_entries_is_refused_and_writes_nothing(capsys, stack_variables, source, tmp_path):
    run(capsys, "admin", "hashset", "add", hashlib.md5(source.encode()).hexdigest(), "--source", source)
    exported = tmp_path / "export.txt"

    status, out, err = run(capsys, "admin", "hashset", "export", "--format", "pdq", "-o", exported)

    errors = [line for line in err.splitlines() if line.startswith("hashmatch: error: ")]
    assert status == 2 and out == "" and "Traceback" not in err
    assert all(line.startswith("hashmatch: error: export --format pdq: ") for line in errors)
    assert any(re.search(r": \d+ md5 entr(y|ies): the pdq format cannot carry md5 hashes .*jsonl", line) for line in errors)
    assert list(tmp_path.iterdir()) == []


def test_export_to_standard_output_in_such_a_format_prints_no_line(capsys, stack_variables, source):
    run(capsys, "admin", "hashset", "add", hashlib.md5(source.encode()).hexdigest(), "--source", source)

    status, out, err = run(capsys, "admin", "hashset", "export", "--format", "pdq")

    assert status == 2 and out == "" and "md5" in err


def test_export_in_jsonl_carries_the_md5_entries(capsys, stack_variables, source, tmp_path):
    digest = hashlib.md5(source.encode()).hexdigest()
    run(capsys, "admin", "hashset", "add", digest, "--source", source)

    status, _, _ = run(capsys, "admin", "hashset", "export", "-o", tmp_path / "export.jsonl")

    mine = [json.loads(line) for line in (tmp_path / "export.jsonl").read_text().splitlines() if source in line]
    assert status == 0 and [(entry["signal_type"], entry["hash"]) for entry in mine] == [("md5", digest)]


def test_admin_commands_take_the_stack_resources_from_the_environment(capsys, stack_variables, source):
    added = run(capsys, "admin", "hashset", "add", hashlib.sha256(source.encode()).hexdigest(), "--source", source)
    stats = run(capsys, "admin", "hashset", "stats")
    listed = run(capsys, "admin", "list-references")

    assert (added[0], stats[0], listed[0]) == (0, 0, 0)
    assert json.loads(stats[1])["by_source"][source] == 1


def test_a_table_that_does_not_exist_is_one_error_line(capsys, stack_variables):
    status, out, err = run(capsys, "admin", "hashset", "--table", "no-such-table", "stats")

    [line] = err.splitlines()
    assert status == 2 and out == "" and line.startswith("hashmatch: error: AWS ") and "ResourceNotFoundException" in line
