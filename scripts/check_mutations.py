"""Mutations of the matching thresholds that the tests must not survive: apply each to a copy, run the tests, name the ones that fail.

    python scripts/check_mutations.py [PYTEST_PATH ...]      (default: tests/unit)

Each mutation moves a threshold a verdict turns on (issue 27, item 9). The source tree (shared/) is
copied to a temporary folder and changed there, never in the checkout; the tests import the changed
copy through PYTHONPATH. Prints, per mutation, the tests that failed; exits 1 when a mutation left
every test green (or no longer applies: its text is gone from the source).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (what, file under shared/, text, replacement): the text must occur exactly once.
MUTATIONS = [
    ("QUERY_MATCH_THRESHOLD 50 -> 40", "hashmatch/matching/verdict.py", "QUERY_MATCH_THRESHOLD = 50.0", "QUERY_MATCH_THRESHOLD = 40.0"),
    ("QUERY_MATCH_THRESHOLD 50 -> 60", "hashmatch/matching/verdict.py", "QUERY_MATCH_THRESHOLD = 50.0", "QUERY_MATCH_THRESHOLD = 60.0"),
    ("query share >= -> >", "hashmatch/matching/verdict.py", "query_percent >= QUERY_MATCH_THRESHOLD", "query_percent > QUERY_MATCH_THRESHOLD"),
    ("REFERENCE_MATCH_THRESHOLD 50 -> 40", "hashmatch/matching/verdict.py", "REFERENCE_MATCH_THRESHOLD = 50.0", "REFERENCE_MATCH_THRESHOLD = 40.0"),
    ("REFERENCE_MATCH_THRESHOLD 50 -> 60", "hashmatch/matching/verdict.py", "REFERENCE_MATCH_THRESHOLD = 50.0", "REFERENCE_MATCH_THRESHOLD = 60.0"),
    ("MIN_INLIERS 30 -> 20", "hashmatch/matching/local_features/orb.py", "MIN_INLIERS = 30", "MIN_INLIERS = 20"),
    ("MIN_INLIERS 30 -> 45", "hashmatch/matching/local_features/orb.py", "MIN_INLIERS = 30", "MIN_INLIERS = 45"),
    ("retro probes skip each chunk's lowest bit", "hashmatch/upload_log/retro_match.py", "for bit in range(CHUNK_BITS)]", "for bit in range(1, CHUNK_BITS)]"),
    ("retro probes skip each chunk's highest bit", "hashmatch/upload_log/retro_match.py", "for bit in range(CHUNK_BITS)]", "for bit in range(CHUNK_BITS - 1)]"),
    ("PDQ threshold 31 -> 32", "hashmatch/signals/pdq.py", "PDQ_CONFIDENT_MATCH_THRESHOLD = 31", "PDQ_CONFIDENT_MATCH_THRESHOLD = 32"),
    ("MIN_SEGMENT_SECONDS 8 -> 6", "hashmatch/matching/verdict.py", "MIN_SEGMENT_SECONDS = 8.0", "MIN_SEGMENT_SECONDS = 6.0"),
    ("MIN_SEGMENT_SECONDS 8 -> 10", "hashmatch/matching/verdict.py", "MIN_SEGMENT_SECONDS = 8.0", "MIN_SEGMENT_SECONDS = 10.0"),
]


def failing_tests(shared: Path, paths: list[str]) -> tuple[list[str], str]:
    """The tests that fail with `shared` imported in place of the checkout's, and pytest's last line."""
    environment = {**os.environ, "PYTHONPATH": str(shared)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf", *paths],
        cwd=ROOT, env=environment, capture_output=True, text=True,
    )
    failed = re.findall(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
    summary = next((line for line in reversed(done.stdout.splitlines()) if line.strip()), "")
    return failed, summary


def main(argv: list[str]) -> int:
    paths = argv or ["tests/unit"]
    survived = 0
    for what, relative, text, replacement in MUTATIONS:
        with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
            shared = Path(folder) / "shared"
            shutil.copytree(ROOT / "shared", shared, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            source = shared / relative
            original = source.read_text()
            if original.count(text) != 1:
                print(f"{what}: NOT APPLIED ({text!r} occurs {original.count(text)} times in {relative})", flush=True)
                survived += 1
                continue
            source.write_text(original.replace(text, replacement))
            failed, summary = failing_tests(shared, paths)
        if failed:
            print(f"{what}: caught by {len(failed)} test(s) [{summary.strip('= ')}]", flush=True)
            for name in failed:
                print(f"    {name}", flush=True)
        else:
            survived += 1
            print(f"{what}: SURVIVED [{summary.strip('= ')}]", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
