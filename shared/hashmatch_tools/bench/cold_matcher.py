"""A matcher started cold in a fresh process, timed phase by phase.

Run by the snapshot benchmark (snapshot.py) as `python -m hashmatch_tools.bench.cold_matcher`
with MatchHashesFunction's environment and a local stack's endpoint, so nothing is imported, no
client exists and nothing is read before it starts, as in a new Lambda container:

  1. interpreter: from the parent's spawn (BENCH_SPAWNED_AT, a time.time()) to this module's first line;
  2. imports: the handler's own import statements, read from its file (boto3, Powertools, the hashmatch adapters and use cases);
  3. handler module: functions/match_hashes/app.py run as Lambda runs it (settings, clients, the Checker);
  4. the hash set, as the first upload brings it in (`checker.hash_set.get()`): the manifest, the snapshot,
     the changes, and the local-feature snapshot when the manifest names one (its S3 read and its
     mapping apart), each timed by wrapping the store's methods.

Prints one JSON object. Its own peak memory (VmHWM) is in it; the parent adds the process's wall and CPU time.
"""

from __future__ import annotations

import time

STARTED = time.time()

import ast  # noqa: E402
import importlib.util  # noqa: E402 - the clock starts before anything is imported
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
HANDLER = ROOT / "functions" / "match_hashes" / "app.py"


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _handler_imports() -> ast.Module:
    """The handler module's top-level import statements (so that the imports phase is the handler's own, read from it)."""
    tree = ast.parse(HANDLER.read_text())
    return ast.Module(body=[node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))], type_ignores=[])


class _Timed:
    """Wraps an object's methods, summing the seconds spent in each (by name)."""

    def __init__(self, target, names: tuple[str, ...]):
        self.seconds: dict[str, float] = {name: 0.0 for name in names}
        for name in names:
            setattr(target, name, self._wrap(name, getattr(target, name)))

    def _wrap(self, name, method):
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started

        return timed


def main() -> int:
    phases: dict[str, float] = {}
    spawned = float(os.environ.get("BENCH_SPAWNED_AT", STARTED))
    phases["interpreter"] = STARTED - spawned
    started = time.perf_counter()
    exec(compile(_handler_imports(), str(HANDLER), "exec"), {})  # noqa: S102 - the handler's own import statements, nothing else
    phases["imports"] = time.perf_counter() - started
    started = time.perf_counter()
    spec = importlib.util.spec_from_file_location("hashmatch_cold_matcher_app", HANDLER)
    app = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = app
    spec.loader.exec_module(app)
    phases["handler module (settings, clients, Checker)"] = time.perf_counter() - started

    live = app.checker.hash_set
    store = _Timed(live.store, ("read_manifest", "read_snapshot", "read_changes", "read_features"))
    features_reads = _FeatureReads(live.store)
    started = time.perf_counter()
    live.get()
    phases["hash set ready"] = time.perf_counter() - started
    detail = {
        "manifest": store.seconds["read_manifest"],
        "snapshot": store.seconds["read_snapshot"],
        "changes": store.seconds["read_changes"],
        "local-feature snapshot, S3 read": features_reads.seconds,
        "local-feature snapshot, mapped": store.seconds["read_features"] - features_reads.seconds,
    }
    detail["assembly (the matcher and its stages)"] = phases["hash set ready"] - sum(detail.values())
    report = {"phases": phases, "hash_set": detail, "source": live.source}
    report["peak_mb"] = _peak_mb()
    print(json.dumps(report))
    return 0


class _FeatureReads:
    """The seconds the store spends reading the local-feature snapshot's bytes from S3 (its `_get` for keys under FEATURES_PREFIX)."""

    def __init__(self, store):
        from hashmatch.aws.hash_set.store import FEATURES_PREFIX

        self.seconds = 0.0
        get = store._get

        def timed(stored):
            started = time.perf_counter()
            try:
                return get(stored)
            finally:
                if stored.key.startswith(FEATURES_PREFIX):
                    self.seconds += time.perf_counter() - started

        store._get = timed


def run_cold(stack, timeout: float = 600) -> dict:
    """Start this module in a fresh process with MatchHashesFunction's environment on `stack`; its report, with the
    process's wall seconds (from spawn to exit) and CPU seconds added. For the parent: nothing here runs in the child."""
    import resource
    import subprocess

    arguments = [sys.executable, "-m", "hashmatch_tools.bench.cold_matcher"]
    environment = {**os.environ, **stack.environment, **stack.functions["MatchHashesFunction"].environment}
    environment["BENCH_SPAWNED_AT"] = repr(time.time())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, env=environment, cwd=ROOT)
    try:
        output = process.communicate(timeout=timeout)[0].decode()
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"the cold matcher failed: exit {process.returncode}")
    report = json.loads(output.strip().splitlines()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    report["wall"] = seconds
    report["cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return report


if __name__ == "__main__":
    sys.exit(main())
