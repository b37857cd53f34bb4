"""The hash lookup API's warm latency on the local stack: signed HTTP requests to its function URL, median and 95th percentile.

It starts a local stack (moto's server, every resource of template.yaml, the function URL served
by the runner), publishes --entries random PDQ list entries as the hash set's snapshot (as
hashmatch_tools.bench.snapshot does: importing thousands through moto's table and stream takes minutes), adds
one reference picture through the table and lets the indexer publish it on top, then sends --requests requests of
--hashes hashes each (one near a list entry, one a frame of the reference, the rest random) as the
local partner role, after --warmup requests that are not counted (the first loads the handler and
the snapshot). Each request is timed on the client around the whole round trip: SigV4 signing,
HTTP to 127.0.0.1, the local signature check, the handler (its throttle update, an UpdateItem
to moto over HTTP; the manifest check every HashSetRefreshSeconds; the search) and the answer.
LookupHashesPerMinute is raised for the run so that the bench measures answers, not refusals.
Usage: python -m hashmatch_tools.bench.lookup [--entries 3000] [--requests 200] [--hashes 10] [--warmup 20]
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from botocore.credentials import Credentials
from PIL import Image

from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.hash_set.indexer import SnapshotIndexer
from hashmatch_tools.bench.snapshot import manifest_signer
from hashmatch.aws.hash_set.store import SnapshotStore
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
from hashmatch.hash_set.lists import HashListEntry
from hashmatch.vocabulary import ListedSignal
from hashmatch.hash_set.snapshot import HashSetSnapshot
from hashmatch_tools.references import add_reference
from hashmatch_tools.local.runner import local_pipeline
from hashmatch_tools.lookup_client import post_lookup

SEED = 20261204


def random_hashes(rng: np.random.Generator, count: int) -> list[str]:
    return [row.tobytes().hex() for row in rng.integers(0, 256, (count, 32), dtype=np.uint8)]


def near(hex_hash: str, rng: np.random.Generator, bits: int = 8) -> str:
    value = int(hex_hash, 16)
    for bit in rng.choice(256, bits, replace=False):
        value ^= 1 << int(bit)
    return format(value, "064x")


def made_picture(path: Path, rng: np.random.Generator) -> None:
    """Random blocks, smoothed: a picture PDQ hashes with high quality."""
    blocks = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    Image.fromarray(blocks).resize((640, 480), Image.BICUBIC).save(path)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.bench.lookup", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--hashes", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    listed = random_hashes(rng, args.entries)
    logs = io.StringIO()  # the handlers' logs, kept out of the report
    started = time.perf_counter()
    with local_pipeline(parameters={"LookupHashesPerMinute": str(10**9)}, log_stream=logs) as (stack, runner):
        hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(stack.client("s3"), stack.ref("ReferenceFeaturesBucket")))
        store = SnapshotStore(stack.client("s3"), stack.ref("SnapshotBucket"))
        SnapshotIndexer(hash_set, store, signer=manifest_signer(stack)).publish(HashSetSnapshot.build(HashListEntry(signal_type=ListedSignal.PDQ, hash=h, labels=("bench",), source="bench-list") for h in listed))
        with tempfile.TemporaryDirectory() as folder:
            picture = Path(folder) / "reference.png"
            made_picture(picture, rng)
            reference = add_reference(hash_set, str(picture), label="bench picture", source="bench")
        runner.run_until_idle(functions=["IndexHashSetFunction"])
        frames = [item for item in stack.table("HashSetTable").query(KeyConditionExpression="reference_id = :r", ExpressionAttributeValues={":r": reference.reference_id})["Items"] if item["item"].startswith("frames#")]
        reference_hash = frames[0]["pdq"][0]
        set_up = time.perf_counter() - started
        url = stack.output("LookUpHashesFunctionUrl")
        partner = stack.identity("partner")
        credentials = Credentials(partner.access_key, partner.secret_key)

        def request() -> dict:
            hashes = [near(listed[int(rng.integers(len(listed)))], rng), near(reference_hash, rng, 4)] + random_hashes(rng, max(0, args.hashes - 2))
            return {"pdq": hashes[: args.hashes]}

        def timed() -> float:
            body = request()
            begun = time.perf_counter()
            status, answer, _ = post_lookup(url, body, credentials, stack.region)
            took = time.perf_counter() - begun
            if status != 200:
                raise SystemExit(f"hashmatch_tools.bench.lookup: the lookup API answered {status}: {answer}")
            return took

        cold = timed()
        source = runner.module("LookUpHashesFunction").hash_set.source
        for _ in range(max(0, args.warmup - 1)):
            timed()
        seconds = [timed() for _ in range(args.requests)]
    ms = sorted(1000 * s for s in seconds)
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[18]
    print(f"lookup API warm latency: median {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms ({args.requests} requests of {args.hashes} PDQ hashes, after {args.warmup} warm-up)")
    print(f"first request (handler import and snapshot load): {1000 * cold:.1f} ms; min {ms[0]:.2f} ms, max {ms[-1]:.2f} ms")
    print(f"hash set: {len(listed)} PDQ list entries (a published snapshot) plus 1 reference picture ({reference.frames} frame, through the table and the indexer), served from the {source}; local stack set up in {set_up:.1f} s")
    print(
        "measured: client-side round trip per request over HTTP to the local function URL on 127.0.0.1 (SigV4 signing, signature check, "
        "handler with its throttle UpdateItem to moto over HTTP, snapshot manifest check every HashSetRefreshSeconds, PDQ index search), one request at a time"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; moto, not AWS: DynamoDB and S3 latencies are moto's on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
