"""A matcher started cold in a fresh process, timed phase by phase, then uploads' second stage timed step by step from their detail pictures in S3.

Run by the benchmarks (snapshot.py, second_stage.py) as `python -m hashmatch_tools.bench.cold_matcher [UPLOADS_JSON]`
with MatchHashesFunction's environment and a local stack's endpoint, so nothing is imported, no
client exists and nothing is read before it starts, as in a new Lambda container:

  1. interpreter: from the parent's spawn (BENCH_SPAWNED_AT, a time.time()) to this module's first line;
  2. imports: the modules the handler imports (boto3, Powertools, the hashmatch adapters and use cases);
  3. handler module: functions/match_hashes/app.py run as Lambda runs it (settings, clients, the Checker);
  4. the hash set, as the first upload brings it in (`checker.hash_set.get()`): the manifest, the snapshot,
     the changes, and the local-feature snapshot (its S3 read and its mapping apart), each timed by
     wrapping the store's methods;
  5. per upload in UPLOADS_JSON (detail-picture objects the parent stored in the stack's details bucket):
     the steps of the local-feature stage (LocalFeatureStage.find) one after another: the S3 GET,
     JPEG decode + ORB of the pictures (on the stage's threads), the search and verification
     (stage.search_pictures, with the mirrored probes' ORB timed apart), and the Matcher's verdicts.
     The first uploads also go through the Matcher itself (`matcher.match`), whose verdicts must agree.

Prints one JSON object. Its own peak memory (VmHWM) is in it; the parent adds the process's wall and CPU time.
"""

from __future__ import annotations

import time

STARTED = time.time()

import importlib.util  # noqa: E402 - the clock starts before anything is imported
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
HANDLER = ROOT / "functions" / "match_hashes" / "app.py"
CHECKED_AGAINST_MATCHER = 20  # uploads whose step-by-step verdicts are compared with matcher.match's


def _peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


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


def main(argv: list[str]) -> int:
    phases: dict[str, float] = {}
    spawned = float(os.environ.get("BENCH_SPAWNED_AT", STARTED))
    phases["interpreter"] = STARTED - spawned
    started = time.perf_counter()
    import boto3  # noqa: F401
    from aws_lambda_powertools import Logger, Metrics, Tracer  # noqa: F401

    from hashmatch.aws.audit_table import AuditTable  # noqa: F401
    from hashmatch.aws.detail_pictures import read_detail_pictures
    from hashmatch.aws.hash_set.live import live_hash_set  # noqa: F401
    from hashmatch.aws.hashes_queue import read_hashes_message  # noqa: F401
    from hashmatch.aws.match_topic import IdempotentPublisher, MatchTopic  # noqa: F401
    from hashmatch.aws.upload_log_queue import UploadLogOutbox  # noqa: F401
    from hashmatch.usecases.check_upload import Checker, check_upload  # noqa: F401

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
    version = live.get()
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

    uploads = json.loads(Path(argv[0]).read_text()) if argv else []
    if uploads:
        report["uploads"] = _second_stage(app.s3, version, uploads, read_detail_pictures)
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


def _second_stage(s3, version, uploads: list[dict], read_detail_pictures) -> list[dict]:
    """Each upload through the local-feature stage's steps, timed one by one, with the Matcher's verdicts."""
    from hashmatch.matching.local_features.orb import features_of_detail_picture, in_threads
    from hashmatch.matching.local_features.stage import search_pictures
    from hashmatch.matching.verdict import decide, sampling_step
    from hashmatch.messages.hashes import DetailPicturesObject, StoredPicture
    from hashmatch.model import MediaHashes
    from hashmatch.vocabulary import MediaKind, Role, Stage

    matcher = version.matcher
    stage = matcher.stage(Stage.LOCAL_FEATURES)
    index = stage.index
    index.prepare()
    recognisable = index.recognisable_seconds()
    found_uploads = []
    for position, upload in enumerate(uploads):
        stored = DetailPicturesObject(upload["bucket"], upload["key"], tuple(StoredPicture(p["timestamp"], p["offset"], p["length"], tuple(tuple(b) for b in p.get("insets", ()))) for p in upload["pictures"]))
        steps: dict[str, float] = {}
        started = time.perf_counter()
        pictures = read_detail_pictures(s3, stored)
        steps["s3_read"] = time.perf_counter() - started
        started = time.perf_counter()
        frames = in_threads(features_of_detail_picture, pictures)
        steps["decode_orb"] = time.perf_counter() - started
        mirrored_seconds = [0.0]

        def mirrored(positions):
            begun = time.perf_counter()
            try:
                return in_threads(lambda p: features_of_detail_picture(pictures[p], mirrored=True), list(positions))
            finally:
                mirrored_seconds[0] += time.perf_counter() - begun

        started = time.perf_counter()
        verifiable, found = search_pictures(index, frames, mirrored)
        searched = time.perf_counter() - started
        steps["mirror_orb"] = mirrored_seconds[0]
        steps["search_verify"] = searched - mirrored_seconds[0]
        started = time.perf_counter()
        matched = []
        if verifiable:
            step = sampling_step(frames)
            for reference, frame_matches in found.items():
                verdict = decide(verifiable, frame_matches, matcher.durations.get(reference, 0.0), stage=Stage.LOCAL_FEATURES, threshold=stage.threshold, query_step=step, recognisable_seconds=recognisable.get(reference))
                if verdict.match:
                    matched.append(str(reference))
        steps["verdict"] = time.perf_counter() - started
        row = {"name": upload["name"], "pictures": len(pictures), "verifiable": len(verifiable), "steps": steps, "total": sum(steps.values()), "matched": sorted(matched)}
        if position < CHECKED_AGAINST_MATCHER:
            # The same upload through the Matcher as the handler runs it (PDQ first: these hash sets hold no PDQ frames).
            shell = MediaHashes(kind=MediaKind(upload.get("kind", "image")), format="", duration=0.0, width=0, height=0, md5="", sha256="", role=Role.UPLOAD, frames=())
            through = matcher.match(shell, lambda stored=stored: read_detail_pictures(s3, stored))
            row["matcher_agrees"] = sorted(str(key) for key, _verdict in through.matches) == sorted(matched)
        found_uploads.append(row)
    return found_uploads


def run_cold(stack, uploads: list[dict] | None, folder: Path, timeout: float = 7200) -> dict:
    """Start this module in a fresh process with MatchHashesFunction's environment on `stack`; its report, with the
    process's wall seconds (from spawn to exit) and CPU seconds added. For the parent: nothing here runs in the child."""
    import resource
    import subprocess

    arguments = [sys.executable, "-m", "hashmatch_tools.bench.cold_matcher"]
    if uploads:
        path = folder / "cold-matcher-uploads.json"
        path.write_text(json.dumps(uploads))
        arguments.append(str(path))
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
    sys.exit(main(sys.argv[1:]))
