"""Load run: N mixed uploads through the local stack, an outcome counted for every one, and the throughput.

The mix: unrelated pictures and short videos (mostly), altered copies of known pictures and a known video
(which must match and be quarantined), and bad input (empty, text, truncated pictures and videos). The stack
is the one `make demo` runs (moto server, template.yaml's resources, the runner delivering queue batches
to the handlers); the uploads go in with the pollers running, and the chain is drained to idle.

Each upload's outcome is read from where the pipeline records it: its audit records (matched, takedown,
rejected, gone, and whatever events the handlers write), or, for an upload checked and matched to
nothing (which has no audit record), its row in the upload hash log. An upload with neither is lost.
Also counted: match messages on a queue subscribed to the topic, evidence copies, dead-lettered messages.

Run: python scripts/load_run.py [--uploads 1000] [--seed 1] [--out docs/load-run.md]
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from hashmatch_tools.local.runner import LocalRunner
from hashmatch_tools.local.stack import LocalStack
from hashmatch_tools.local.template import REPO_ROOT


INDEXER = "IndexHashSetFunction"
STAGES = ("HashUploadFunction", "MatchHashesFunction", "TakeDownFunction", "LogUploadHashesFunction")
# Shares of the mix (of --uploads); unrelated pictures take the rest.
MIX = {
    "copy of a known picture": 0.06,
    "copy of the known video": 0.02,
    "unrelated video": 0.12,
    "bad: empty": 0.02,
    "bad: text": 0.02,
    "bad: truncated picture": 0.02,
    "bad: truncated video": 0.02,
}
KNOWN_PICTURES = 4
# What each kind of upload must end as: an audit event it must have, or none (checked, matched to nothing).
EXPECTED = {
    "copy of a known picture": "matched",
    "copy of the known video": "matched",
    "unrelated picture": None,
    "unrelated video": None,
}
UNMATCHED = "unmatched (upload hash log, no audit record)"
LOST = "no outcome (lost)"


@dataclass(frozen=True)
class Item:
    kind: str
    key: str
    data: bytes


def say(text: str = "") -> None:
    print(text, flush=True)


# ---------------------------------------------------------------- media


def known_media(seed: int):
    """The references: a few pictures (PNG) and one short video, with what their copies are made from."""
    from hashmatch_tools.made_media import detailed, encode_video, image_bytes, panning

    pictures = [detailed(seed * 1000 + n, 640, 480) for n in range(KNOWN_PICTURES)]
    frames = panning(seed * 1000 + 99, 40, 160, 120)
    references = [(f"known picture {n}", image_bytes(p)) for n, p in enumerate(pictures)] + [("known video", encode_video(frames, fps=10))]
    return references, pictures, frames


def altered_picture(rng: random.Random, rgb) -> bytes:
    """Rescaled (70-100 %), brighter or darker, JPEG at quality 50-90: what a re-upload does to a picture."""
    import numpy as np
    from PIL import Image

    image = Image.fromarray(np.clip(rgb.astype(np.int16) + rng.randint(-15, 15), 0, 255).astype(np.uint8))
    scale = rng.uniform(0.7, 1.0)
    image = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=rng.randint(50, 90))
    return out.getvalue()


def altered_video(rng: random.Random, frames) -> bytes:
    import numpy as np
    from hashmatch_tools.made_media import encode_video

    shift = rng.choice([-12, -8, 8, 12])
    return encode_video([np.clip(f.astype(np.int16) + shift, 0, 255).astype(np.uint8) for f in frames], fps=10)


def make_uploads(count: int, seed: int, pictures, frames) -> list[Item]:
    from hashmatch_tools.made_media import encode_video, image_bytes, panning, textured

    rng = random.Random(seed)
    kinds = []
    for kind, share in MIX.items():
        kinds += [kind] * max(1, round(count * share))
    kinds = kinds[:count]
    kinds += ["unrelated picture"] * (count - len(kinds))
    rng.shuffle(kinds)
    base_seed = seed * 100_000 + 10_000
    truncated_video = encode_video(panning(base_seed - 1, 20, 160, 120), fps=10)
    truncated_picture = image_bytes(textured(base_seed - 2, 320, 240), "JPEG", quality=85)
    items = []
    for n, kind in enumerate(kinds):
        if kind == "unrelated picture":
            width, height = rng.choice([(320, 240), (240, 320), (256, 256)])
            fmt = rng.choice(["JPEG", "JPEG", "JPEG", "PNG"])
            data, ext = image_bytes(textured(base_seed + n, width, height), fmt, **({"quality": 80} if fmt == "JPEG" else {})), fmt.lower().replace("jpeg", "jpg")
        elif kind == "unrelated video":
            data, ext = encode_video(panning(base_seed + n, 20, 160, 120), fps=10), "mp4"
        elif kind == "copy of a known picture":
            data, ext = altered_picture(rng, rng.choice(pictures)), "jpg"
        elif kind == "copy of the known video":
            data, ext = altered_video(rng, frames), "mp4"
        elif kind == "bad: empty":
            data, ext = b"", rng.choice(["jpg", "mp4"])
        elif kind == "bad: text":
            data, ext = f"minutes of meeting {n}\n".encode() * rng.randint(1, 50), "txt"
        elif kind == "bad: truncated picture":
            data, ext = truncated_picture[: rng.randint(200, len(truncated_picture) // 2)], "jpg"
        else:  # bad: truncated video
            data, ext = truncated_video[: rng.randint(len(truncated_video) // 5, len(truncated_video) // 2)], "mp4"
        items.append(Item(kind, f"load/{n:05d}-{kind.replace(':', '').replace(' ', '-')}.{ext}", data))
    return items


# ---------------------------------------------------------------- what the stack recorded


def scan(table) -> list[dict]:
    from hashmatch.aws.dynamo import from_item

    found, start = [], {}
    while True:
        page = table.scan(**start)
        found += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def keys(s3, bucket: str, prefix: str = "") -> list[str]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [entry["Key"] for entry in page.get("Contents", [])]
    return found


def logged_uploads(s3, bucket: str) -> Counter:
    """Rows of the upload hash log's uploads table, counted by upload id."""
    import pyarrow.parquet as pq

    from hashmatch.upload_log.records import UPLOADS_TABLE

    rows: Counter = Counter()
    for key in keys(s3, bucket, f"{UPLOADS_TABLE}/"):
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()), columns=["upload_id"])
        rows.update(table.column("upload_id").to_pylist())
    return rows


def evidence_copies(s3, bucket: str) -> Counter:
    """Versions in the evidence bucket, counted by the upload id they were taken from (key: <bucket>/<version>/<key>)."""
    copies: Counter = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            upload_bucket, upload_version, upload_key = version["Key"].split("/", 2)
            copies[f"s3://{upload_bucket}/{upload_key}?versionId={upload_version}"] += 1
    return copies


def drain(sqs, queue_url: str) -> list[dict]:
    found = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return found
        found += [json.loads(message["Body"]) for message in messages]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)])


def dead_letters(stack: LocalStack, sqs) -> dict[str, int]:
    counts = {}
    for logical_id, resource in stack.template["Resources"].items():
        if resource["Type"] == "AWS::SQS::Queue" and logical_id.endswith("DeadLetterQueue"):
            attributes = sqs.get_queue_attributes(QueueUrl=stack.ref(logical_id), AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            counts[logical_id] = sum(int(value) for value in attributes.values())
    return counts


# ---------------------------------------------------------------- the run


def machine() -> str:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")), "")
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        total_kb = int(next(line.split()[1] for line in meminfo.read_text().splitlines() if line.startswith("MemTotal")))
        memory = f", {total_kb / 1024**2:.0f} GiB"
    return f"{os.cpu_count()} CPUs{f' ({model})' if model else ''}{memory}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def run(args) -> tuple[int, list[str]]:
    from hashmatch.aws.hash_set.table import HashSetTable
    from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket
    from hashmatch_tools.references import add_reference

    report: list[str] = []

    def out(text: str = "") -> None:
        say(text)
        report.append(text)

    started_making = time.perf_counter()
    references, pictures, frames = known_media(args.seed)
    items = make_uploads(args.uploads, args.seed, pictures, frames)
    say(f"made {len(items)} uploads ({sum(len(i.data) for i in items) / 1e6:.1f} MB) in {time.perf_counter() - started_making:.1f} s")

    args.log.parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "w") as log, LocalStack() as stack, LocalRunner(stack, log_stream=log) as runner:
        runner.run_until_idle()  # S3's s3:TestEvent, sent when the notification was configured
        s3, sqs = stack.client("s3"), stack.client("sqs")
        observer = stack.subscribe_queue("MatchTopic", "load-run-match-observer")
        hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(s3, stack.ref("ReferenceFeaturesBucket")))
        added = [add_reference(hash_set, data, label=f"load run: {name}", source="load run").reference_id for name, data in references]
        runner.run_until_idle()
        matcher_hash_set = runner.module("MatchHashesFunction").checker.hash_set
        deadline = time.monotonic() + 60
        while not all(reference_id in matcher_hash_set.get() for reference_id in added):
            if time.monotonic() > deadline:
                raise TimeoutError("the matcher did not get the references within 60 s")
            time.sleep(0.1)
        say(f"{len(added)} references in the hash set; handler logs: {args.log}")

        bucket = stack.ref("UploadsBucket")
        before = len(runner.invocations)
        started = time.perf_counter()
        runner.start()
        kind_of: dict[str, str] = {}
        for item in items:
            version = s3.put_object(Bucket=bucket, Key=item.key, Body=item.data)["VersionId"]
            kind_of[f"s3://{bucket}/{item.key}?versionId={version}"] = item.kind
        uploaded = time.perf_counter() - started
        runner.stop()
        runner.run_until_idle(timeout=args.timeout)
        wall = time.perf_counter() - started
        invocations = runner.invocations[before:]

        audit = defaultdict(list)
        for record in scan(stack.table("AuditTable")):
            audit[record["upload_id"]].append(record["event"])
        logged = logged_uploads(s3, stack.ref("UploadHashLogBucket"))
        messages = Counter(json.loads(envelope["Message"])["upload"]["upload_id"] for envelope in drain(sqs, observer))
        copies = evidence_copies(s3, stack.ref("EvidenceBucket"))
        dead = dead_letters(stack, sqs)

    outcome: dict[str, str] = {}
    for upload_id in kind_of:
        events = sorted(audit.get(upload_id, []))
        outcome[upload_id] = " + ".join(events) if events else (UNMATCHED if logged[upload_id] else LOST)
    lost = [u for u, o in outcome.items() if o == LOST]
    doubled = {
        "match messages": [u for u in kind_of if messages[u] > 1],
        "evidence copies": [u for u in kind_of if copies[u] > 1],
        "upload hash log rows": [u for u in kind_of if logged[u] > 1],
    }
    unexpected = []
    for upload_id, kind in kind_of.items():
        wanted = EXPECTED.get(kind, "bad input")
        events = audit.get(upload_id, [])
        ok = (outcome[upload_id] == UNMATCHED) if wanted is None else ("matched" in events and messages[upload_id] == 1) if wanted == "matched" else (bool(events) and "matched" not in events)
        if not ok:
            unexpected.append((kind, upload_id, outcome[upload_id]))
    stray = sorted(set(messages) - set(kind_of))

    out(f"uploads: {len(kind_of)}")
    out("uploads by kind: " + ", ".join(f"{kind} {n}" for kind, n in Counter(kind_of.values()).most_common()))
    out("")
    out("| outcome (audit events of the upload) | uploads |")
    out("|---|---:|")
    for name, n in Counter(outcome.values()).most_common():
        out(f"| {name} | {n} |")
    out("")
    out("| kind of upload | " + " | ".join(sorted(set(outcome.values()))) + " |")
    out("|---|" + "---:|" * len(set(outcome.values())))
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for upload_id, kind in kind_of.items():
        by_kind[kind][outcome[upload_id]] += 1
    for kind in sorted(by_kind):
        out(f"| {kind} | " + " | ".join(str(by_kind[kind][name]) for name in sorted(set(outcome.values()))) + " |")
    out("")
    out(f"match messages published: {sum(messages[u] for u in kind_of)} for {sum(1 for u in kind_of if messages[u])} uploads (stray, for no upload of the run: {len(stray)}); evidence copies: {sum(copies[u] for u in kind_of)}")
    out(f"audit events in all: " + ", ".join(f"{event} {n}" for event, n in Counter(e for u in kind_of for e in audit.get(u, [])).most_common()))
    out(f"dead-lettered messages: {sum(dead.values())}" + (f" ({', '.join(f'{k} {v}' for k, v in dead.items() if v)})" if any(dead.values()) else ""))
    out(f"doubled: " + ", ".join(f"{what} {len(found)}" for what, found in doubled.items()))
    out(f"not the expected outcome: {len(unexpected)}")
    for kind, upload_id, got in unexpected[:20]:
        out(f"  {kind}: {upload_id} -> {got}")
    out(f"lost = {len(lost)}")
    out("")
    out(f"wall time, first upload to the chain idle: {wall:.1f} s; end to end {len(kind_of) / wall:.1f} uploads/s (the uploads themselves took {uploaded:.1f} s)")
    out("")
    out("| stage | invocations | records | failed records | handler seconds | records/s of handler time |")
    out("|---|---:|---:|---:|---:|---:|")
    for function in sorted({i.function for i in invocations}, key=lambda f: (STAGES.index(f) if f in STAGES else len(STAGES), f)):
        mine = [i for i in invocations if i.function == function]
        records, seconds = sum(i.records for i in mine), sum(i.seconds for i in mine)
        out(f"| {function} | {len(mine)} | {records} | {sum(i.failed for i in mine)} | {seconds:.1f} | {records / seconds if seconds else 0:.1f} |")
    out("(the runner invokes one handler at a time, as one concurrent execution per function would, in one process beside the moto server)")
    out(f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}: above 2 on 2 cores means other work shared them")
    failed = bool(lost or unexpected or any(doubled.values()) or any(dead.values()) or stray)
    return (1 if failed else 0), report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1000, help="how many uploads (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="the mix and the media are made from it (default 1)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the chain to drain (default 1800)")
    parser.add_argument("--log", type=Path, default=REPO_ROOT / ".local" / "load-run.log", help="the handlers' logs and metrics")
    parser.add_argument("--out", type=Path, help="also write the figures into this Markdown file (docs/load-run.md)")
    args = parser.parse_args(argv)
    status, report = run(args)
    if args.out:
        command = "python scripts/load_run.py " + " ".join(argv if argv is not None else sys.argv[1:])
        head = [
            "# Load run: mixed uploads through the local stack",
            "",
            f"`{command.strip()}` (`make load`), {datetime.date.today().isoformat()}.",
            f"Machine: {machine()}.",
            "",
            "The local stack of `make demo` (moto server mode, the resources of template.yaml, the runner delivering queue",
            "batches to the handlers), with the references added first: a few pictures and one short video. Then the uploads,",
            "put into the uploads bucket with the runner's pollers running, and the chain drained to idle. The mix: unrelated",
            "pictures (JPEG and PNG, 256-320 px) and 2-second videos (160x120), altered copies of the references (rescaled,",
            "brighter or darker, re-encoded), and bad input (empty objects, text, truncated JPEGs and MP4s).",
            "",
            "An upload's outcome is read from where the pipeline keeps it: its audit records, grouped by their events; an",
            "upload checked and matched to nothing has no audit record (the matcher only logs and counts it), so it is counted",
            "from its row in the upload hash log. An upload with neither is lost. Doubles are counted in the match messages",
            "(a queue subscribed to the topic), the evidence copies and the upload hash log's rows.",
            "",
            "Truncated pictures and videos are media that cannot be checked: they end rejected by the hasher, recorded",
            "cannot-check by the matcher and held (quarantined by the takedown, CannotCheckAction hold), and their hold messages",
            "are among the messages on the match topic counted below.",
            "",
        ]
        args.out.write_text("\n".join(head + report) + "\n")
        say(f"written to {args.out}")
    say("OK" if status == 0 else "FAILED: see above")
    return status


if __name__ == "__main__":
    sys.exit(main())
