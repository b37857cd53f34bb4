"""What `make local-stack` prints: an export block a person pastes into another shell, after which the hashmatch commands reach the local stack."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hashmatch_tools.cli import main
from hashmatch_tools.local.shell import EXPORTS_BEGIN, EXPORTS_END, print_shell_setup
from hashmatch_tools.stack_outputs import STACK_VARIABLES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def printed(stack) -> str:
    out = io.StringIO()
    print_shell_setup(stack, out)
    return out.getvalue()


@pytest.fixture(scope="module")
def export_block(printed) -> list[str]:
    lines = printed.splitlines()
    return lines[lines.index(EXPORTS_BEGIN) + 1 : lines.index(EXPORTS_END)]


@pytest.fixture(scope="module")
def exported(export_block) -> dict[str, str]:
    """NAME -> value, as a shell reads each `export NAME=value` line."""
    values = {}
    for line in export_block:
        keyword, assignment = shlex.split(line)
        assert keyword == "export"
        name, value = assignment.split("=", 1)
        values[name] = value
    return values


def in_a_shell_with(export_block: list[str], command: list[str], home: Path, stdin: str = "") -> subprocess.CompletedProcess:
    """`command` in a new bash whose environment is only the pasted export block (and where to find Python and the code)."""
    script = "\n".join([*export_block, "exec " + shlex.join(command)])
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT / "shared"), "HOME": str(home)}
    return subprocess.run(["bash", "-c", script], env=environment, input=stdin, capture_output=True, text=True, timeout=120)


def test_every_printed_line_of_the_export_block_is_an_export(export_block):
    assert export_block and all(line.startswith("export ") for line in export_block)


def test_everything_printed_outside_the_export_block_is_a_shell_comment(printed, export_block):
    others = [line for line in printed.splitlines() if line not in export_block]

    assert [line for line in others if not line.startswith("#")] == []


def test_the_export_block_sets_every_stack_variable_to_the_local_stacks_output(stack, exported):
    assert {variable: exported.get(variable) for variable in STACK_VARIABLES} == {variable: stack.output(output) for variable, output in STACK_VARIABLES.items()}


def test_the_export_block_points_boto3_at_the_local_endpoint_as_the_operator(stack, exported):
    operator = stack.identity("operator")

    assert exported["AWS_ENDPOINT_URL"] == stack.endpoint_url
    assert exported["AWS_REGION"] == exported["AWS_DEFAULT_REGION"] == stack.region
    assert (exported["AWS_ACCESS_KEY_ID"], exported["AWS_SECRET_ACCESS_KEY"]) == (operator.access_key, operator.secret_key)


def test_admin_hashset_in_a_shell_with_the_exports_reads_the_local_stacks_hash_set(stack, export_block, tmp_path, capsys):
    main(["admin", "hashset", "--endpoint-url", stack.endpoint_url, "--region", stack.region, "--table", stack.ref("HashSetTable"), "stats"])
    expected = json.loads(capsys.readouterr().out)

    finished = in_a_shell_with(export_block, [sys.executable, "-m", "hashmatch_tools.cli", "admin", "hashset", "stats"], tmp_path)

    assert (finished.returncode, finished.stderr) == (0, "")
    assert json.loads(finished.stdout) == expected


def test_check_in_a_shell_with_the_exports_asks_the_local_lookup_api(export_block, tmp_path):
    digest = "0" * 63 + "1"  # a SHA-256 no test adds

    finished = in_a_shell_with(export_block, [sys.executable, "-m", "hashmatch_tools.cli", "check", "--hashes", "-"], tmp_path, stdin=f"sha256:{digest}\n")

    assert (finished.returncode, finished.stderr) == (0, "")
    assert finished.stdout.splitlines() == [f"no\t-\tsha256\t{digest}\t-"]  # "-": a hash given on its own, no file
