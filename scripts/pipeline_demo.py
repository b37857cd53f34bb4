"""The serverless pipeline end to end on the local stack: reference in, altered copy and unrelated video uploaded.

Shows the SNS match message for the copy, none for the unrelated video, a cropped copy of the
reference image that PDQ misses and the second stage (local features) catches, the quarantined
object in the evidence bucket, the audit record, how bad objects end, and the latency from upload
to the SNS message for a video, an image and the cropped image, a retro-match: a copy
uploaded before its picture was added, found when it is, and a hash-sharing exchange: a
scheduled sync from a local Tech Against Terrorism server adding a hash that then matches an
upload, the exchange's deletion reaching the matcher, and a burst of matches switching an entry
to review. It leaves a held upload and a review match in the review queue and says how to look
at them with the moderators' desk (`hashmatch review`); with --keep the stack stays up for that,
with the command printed. Uses ../shared/corpus; without it, media made for the demo.
Run: python scripts/pipeline_demo.py [--corpus DIR] [--repeat N] [--keep]
"""

from __future__ import annotations

import argparse
import io
import json
import shlex
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hashmatch_tools.references import add_reference
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch_tools.local.runner import LocalRunner
from hashmatch_tools.local.stack import LocalStack
from hashmatch_tools.local.template import REPO_ROOT
from hashmatch.aws.hash_set.reference_features import ReferenceFeaturesBucket

DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
VIDEOS = "videos/tmk-sample-videos"
CORPUS_MEDIA = {
    "reference video": f"{VIDEOS}/chair-orig-22-sd-bar.mp4",
    "altered copy": f"{VIDEOS}/chair-22-sd-sepia-bar.mp4",
    "unrelated video": f"{VIDEOS}/doorknob-hd-no-bar.mp4",
    "reference image": "images/pdq-bridge-mods/aaa-orig.jpg",
    "altered image": "images/pdq-bridge-mods/blur-a-little.jpg",
    "overlaid video": f"{VIDEOS}/chair-22-with-large-logo-bar.mp4",
    "listed image": "images/pdq-misc/pen-and-coaster.png",
    "retro image": "images/pdq-labelme-subset/q0291.jpg",
    "review image": "images/pdq-labelme-subset/q0746.jpg",
    "exchanged image": "images/debian-mate-nature/Garden.jpg",
    "flooded image": "images/debian-mate-nature/Dune.jpg",
}
# A partner's list in the ThreatExchange/HMA export format (139 PDQ hashes), when the corpus has it.
HMA_LIST = "hash-lists/hma-sample-data/pdq.csv"
HMA_TMK = "hash-lists/hma-sample-data/video_tmk_pdqf.csv"  # one TMK+PDQF line of the same export
HASH_PIPELINE = ["HashUploadFunction", "MatchHashesFunction"]
# Runs in the background, as Lambda's stream poller does: changes to the hash set reach the
# matchers through it (table stream -> indexer -> snapshot in S3 -> the matcher's next check).
INDEXER = "IndexHashSetFunction"
# What the product promises: a change to the hash set takes effect in a running matcher within this.
FRESHNESS_SECONDS = 5.0
# The demo's own parameters: FloodMatches low enough for a burst of a few uploads to show flood protection
# (the default, 100 an hour, is sized for real traffic: template.yaml), and above the latency runs' copies.
DEMO_PARAMETERS = {"FloodMatches": "5"}
# The exchange sync's schedule, locally: every few seconds (ExchangeSyncMinutes, 15, in AWS).
SYNC_SECONDS = 3.0


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes


def corpus_media(corpus: Path) -> dict[str, Item] | None:
    paths = {role: corpus / relative for role, relative in CORPUS_MEDIA.items()}
    if not all(path.is_file() for path in paths.values()):
        return None
    media = {role: Item(path.name, path.read_bytes()) for role, path in paths.items()}
    return {**media, "cropped image": cropped(media["reference image"])}


def cropped(item: Item, share: float = 0.1) -> Item:
    """The picture with `share` of its width and height cut from every side, as JPEG: PDQ misses it."""
    from PIL import Image

    picture = Image.open(io.BytesIO(item.data)).convert("RGB")
    w, h = picture.size
    out = io.BytesIO()
    picture.crop((int(w * share), int(h * share), w - int(w * share), h - int(h * share))).save(out, format="JPEG", quality=85)
    return Item(f"{Path(item.name).stem}-cropped-{round(share * 100)}pct.jpg", out.getvalue())


def made_media() -> dict[str, Item]:
    """Without the corpus: a panning video, its mirrored copy, another video, a picture, its JPEG and a crop."""
    import numpy as np
    from hashmatch_tools.made_media import detailed, encode_video, image_bytes, panning

    frames = panning(1, 120, 320, 240)
    picture = detailed(3, 800, 600)
    reference_image = Item("made-picture.png", image_bytes(picture))
    return {
        "reference video": Item("made-reference.mp4", encode_video(frames, fps=20)),
        "altered copy": Item("made-mirrored-copy.mp4", encode_video([np.ascontiguousarray(f[:, ::-1]) for f in frames], fps=20)),
        "unrelated video": Item("made-unrelated.mp4", encode_video(panning(2, 60, 320, 240), fps=20)),
        "reference image": reference_image,
        "altered image": Item("made-picture-q60.jpg", image_bytes(picture, "JPEG", quality=60)),
        "cropped image": cropped(reference_image),
        "listed image": Item("made-listed.png", image_bytes(detailed(5, 800, 600))),
        "retro image": Item("made-retro.png", image_bytes(detailed(7, 800, 600))),
        "review image": Item("made-review.png", image_bytes(detailed(9, 800, 600))),
        "exchanged image": Item("made-exchanged.png", image_bytes(detailed(11, 800, 600))),
        "flooded image": Item("made-flooded.png", image_bytes(detailed(13, 800, 600))),
    }


def say(text: str = "") -> None:
    print(text, flush=True)


def heading(text: str) -> None:
    say()
    say(f"== {text}")


class Demo:
    def __init__(self, stack: LocalStack, runner: LocalRunner, source: str):
        self.stack, self.runner, self.source = stack, runner, source
        self.s3 = stack.client("s3")
        self.sqs = stack.client("sqs")
        self.uploads = stack.ref("UploadsBucket")
        self.observer = stack.subscribe_queue("MatchTopic", "demo-match-observer")
        # As the operator's admin command: PDQ frames in the table, local features in their bucket.
        self.hash_set = HashSetTable(stack.table("HashSetTable"), ReferenceFeaturesBucket(self.s3, stack.ref("ReferenceFeaturesBucket")))
        # ... and small pictures of its frames, which the reviewers' desk shows beside a match.
        self.pictures = ReferencePictures(self.s3, stack.ref("ReferencePicturesBucket"))
        self.audit = stack.table("AuditTable")
        # The warm matcher's own hash set (the handler module's), as an upload would find it.
        self.matcher_hash_set = runner.module("MatchHashesFunction").checker.hash_set

    def add_reference(self, item: Item, label: str, action: str = "quarantine") -> str:
        started = time.perf_counter()
        reference = add_reference(self.hash_set, item.data, label=label, source=self.source, action=action, pictures=self.pictures)
        say(f"added reference {item.name}: {reference.kind}, {reference.frames} usable frames, "
            f"{reference.feature_frames} with local features, label {reference.label!r}, "
            f"id {reference.reference_id[:16]}… ({time.perf_counter() - started:.1f} s)")
        return reference.reference_id

    def until_matcher_has(self, key: str, present: bool = True, timeout: float = 30.0) -> float:
        """Seconds until the running matcher's hash set holds `key` (or no longer does): the change's way through the indexer."""
        started = time.perf_counter()
        # From the snapshot: before the indexer's first one, a matcher reads the table instead.
        while (key in self.matcher_hash_set.get()) != present or self.matcher_hash_set.source != "snapshot":
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"the matcher did not see {key} {'added' if present else 'gone'} within {timeout:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - started

    def upload(self, item: Item, key: str) -> tuple[float, list[dict]]:
        """Upload, run the hasher and matcher, read what the topic delivered; returns (seconds to the message, messages)."""
        started = time.perf_counter()
        self.s3.put_object(Bucket=self.uploads, Key=key, Body=item.data)
        self.runner.run_until_idle(functions=HASH_PIPELINE)
        messages = self.received()
        elapsed = time.perf_counter() - started
        return elapsed, messages

    def received(self) -> list[dict]:
        found = []
        while True:
            response = self.sqs.receive_message(QueueUrl=self.observer, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not response.get("Messages"):
                return found
            for message in response["Messages"]:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.observer, ReceiptHandle=message["ReceiptHandle"])

    def audit_records(self, upload_id: str) -> list[dict]:
        from boto3.dynamodb.conditions import Key

        from hashmatch.aws.dynamo import from_item

        items = self.audit.query(KeyConditionExpression=Key("upload_id").eq(upload_id))["Items"]
        return [from_item(item) for item in items]


def run(media: dict[str, Item], source: str, repeat: int, log_path: Path, corpus: Path | None = None, keep: bool = False) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log, LocalStack(parameters=DEMO_PARAMETERS) as stack, LocalRunner(stack, log_stream=log) as runner:
        runner.run_until_idle()  # S3's s3:TestEvent, sent when the notification was configured
        kinds: dict[str, int] = {}
        for resource in stack.resources.values():
            kinds[resource.type] = kinds.get(resource.type, 0) + 1
        heading(f"local stack: moto server at {stack.endpoint_url}, resources from template.yaml")
        say(", ".join(f"{count} {kind.split('::')[-1]}" for kind, count in sorted(kinds.items())))
        for deviation in stack.deviations:
            say(f"  local deviation: {deviation}")
        say(f"handler logs and metrics: {log_path}")

        demo = Demo(stack, runner, source)
        runner.start(functions=[INDEXER])
        heading(f"hash set ({source})")
        added = [
            demo.add_reference(media["reference video"], "demo: known violent-extremist video"),
            demo.add_reference(media["reference image"], "demo: known violent-extremist image"),
        ]
        waited = max(demo.until_matcher_has(key) for key in added)
        say(f"the running matcher holds both references from the hash set's snapshot {waited:.2f} s later "
            f"(table stream -> indexer -> snapshot in S3 -> the matcher's check every {float(stack.parameters['HashSetRefreshSeconds']):g} s)")

        copy = media["altered copy"]
        heading(f"upload an altered copy: {copy.name}")
        copy_key = f"user-uploads/{copy.name}"
        video_seconds, messages = demo.upload(copy, copy_key)
        if len(messages) != 1:
            say(f"expected one match message, got {len(messages)}")
            return 1
        envelope = messages[0]
        message = json.loads(envelope["Message"])
        say("SNS message attributes: " + json.dumps({name: value["Value"] for name, value in envelope["MessageAttributes"].items()}))
        say(json.dumps(message, indent=2))

        unrelated = media["unrelated video"]
        heading(f"upload an unrelated video: {unrelated.name}")
        _, found = demo.upload(unrelated, f"user-uploads/{unrelated.name}")
        say("no match message" if not found else f"UNEXPECTED: {len(found)} match message(s)")

        crop = media["cropped image"]
        second_stage = [(crop, "a cropped copy of the reference image (10 % off every side)")]
        if "overlaid video" in media:
            second_stage.append((media["overlaid video"], "a copy of the reference video under a large logo"))
        for item, what in second_stage:
            heading(f"upload {what}: {item.name}")
            seconds, found = demo.upload(item, f"user-uploads/{item.name}")
            if len(found) != 1:
                say(f"expected one match message, got {len(found)}")
                return 1
            entry = json.loads(found[0]["Message"])["matches"][0]
            say(f"PDQ matched nothing, the second stage (local features) decided, {seconds:.2f} s from upload to the message:")
            say(json.dumps({name: entry[name] for name in ("label", "signal_type", "distance", "inliers", "threshold", "query_match_percent", "reference_match_percent")}))
            if item is crop:
                crop_seconds = seconds

        heading("takedown subscriber")
        runner.run_until_idle()
        remaining = demo.s3.list_object_versions(Bucket=demo.uploads, Prefix=copy_key).get("Versions", [])
        say(f"uploads bucket: {copy_key} has {len(remaining)} version(s) left (the matched version was removed)")
        evidence_bucket = stack.ref("EvidenceBucket")
        for kept in demo.s3.list_objects_v2(Bucket=evidence_bucket).get("Contents", []):
            head = demo.s3.head_object(Bucket=evidence_bucket, Key=kept["Key"])
            say(f"evidence bucket: s3://{evidence_bucket}/{kept['Key']} ({kept['Size']} bytes, "
                f"encryption {head.get('ServerSideEncryption')}, metadata {head.get('Metadata')})")
        say("audit record:")
        for record in demo.audit_records(message["upload"]["upload_id"]):
            say(json.dumps(record, indent=2, default=str))

        heading("bad objects: a counted, recorded outcome, never a retry loop; media that cannot be checked is held")
        bad = {
            "bad/empty.mp4": b"",
            "bad/truncated.mp4": unrelated.data[: len(unrelated.data) // 3],
            "bad/notes.txt": b"not media at all\n",
        }
        versions = {key: demo.s3.put_object(Bucket=demo.uploads, Key=key, Body=body)["VersionId"] for key, body in bad.items()}
        runner.run_until_idle()
        for key, version in versions.items():
            # A held upload is no longer in the uploads bucket: its version is the one put.
            records = demo.audit_records(f"s3://{demo.uploads}/{key}?versionId={version}")
            say(f"{key}: " + "; ".join(f"{r['event']} ({r.get('reason')}: {r.get('detail') or r.get('hold_detail')}{', ' + r['action'] if r.get('action') else ''}{', ' + r['outcome'] if r.get('outcome') else ''})" for r in records))
        for envelope in demo.received():
            hold = json.loads(envelope["Message"])
            say(f"hold message on the match topic (CannotCheckAction hold): {hold.get('message_type')} {hold.get('reason')} for {hold['upload']['key']}")
        dead = stack.client("sqs").get_queue_attributes(QueueUrl=stack.ref("UploadsDeadLetterQueue"), AttributeNames=["ApproximateNumberOfMessages"])
        say(f"uploads dead-letter queue: {dead['Attributes']['ApproximateNumberOfMessages']} message(s)")

        if shared_list(demo, media["listed image"], corpus) != 0:
            return 1
        if retro_match(demo, media["retro image"]) != 0:
            return 1
        if review_match(demo, media["review image"]) != 0:
            return 1
        if exchange(demo, media["exchanged image"], media["flooded image"]) != 0:
            return 1

        heading(f"latency, upload -> SNS message on a subscribed queue (local stack; first run, then {repeat} more)")
        image = media["altered image"]
        image_seconds, image_messages = demo.upload(image, f"user-uploads/latency/first-{image.name}")
        if len(image_messages) != 1:
            say(f"expected one match message for {image.name}, got {len(image_messages)}")
            return 1
        timings = {"video": [video_seconds], "image": [image_seconds], "cropped image": [crop_seconds]}
        latency_media = (("video", copy), ("image", image), ("cropped image", crop))
        for run_number in range(repeat):
            for kind, item in latency_media:
                seconds, found = demo.upload(item, f"user-uploads/latency/{run_number}-{item.name}")
                if len(found) != 1:
                    say(f"expected one match message for {item.name}, got {len(found)}")
                    return 1
                timings[kind].append(seconds)
        runner.run_until_idle()
        for kind, item in latency_media:
            values = timings[kind]
            later = f", then median {statistics.median(values[1:]):.2f} s" if len(values) > 1 else ""
            say(f"{kind} {item.name} ({len(item.data) / 1e6:.1f} MB): first {values[0]:.2f} s{later}")
        say("(the local runner polls at once: no Lambda cold start or event-source polling delay is included)")
        log.flush()
        stage_figures(log_path, latency_media)
        review_desk(demo, keep)
    return 0


def shared_list(demo: Demo, listed: Item, corpus: Path | None) -> int:
    """A shared hash list holding the PDQ hash of a picture: imported, matched, allowed, removed."""
    from hashmatch.media.hashing import hash_media
    from hashmatch_tools import hashset

    heading("a shared hash list: import, match, allow, remove")
    folder = REPO_ROOT / ".local"
    listing = folder / "demo-shared-list.csv"
    lines = corpus.joinpath(HMA_LIST).read_text().splitlines(keepends=True) if corpus and corpus.joinpath(HMA_LIST).is_file() else []
    pdq = hash_media(listed.data, role="reference").frames[0].pdq
    # The partner's line for the picture, a TMK line (kept and counted, not matched by the stack), a damaged TMK line and a damaged line.
    tmk = corpus.joinpath(HMA_TMK).read_text().splitlines(keepends=True) if corpus and corpus.joinpath(HMA_TMK).is_file() else []
    lines += [f"{pdq},9990001,2026-11-30T12:00:00+0000,demo_listed media_type_photo\n", *tmk, "TMK1FVECPDQF|AAAA,9990003,2026-11-30T12:00:00+0000,demo\n", f"{pdq[:40]},9990002,2026-11-30T12:00:00+0000,demo\n"]
    listing.write_text("".join(lines))
    options = ["--endpoint-url", demo.stack.endpoint_url, "--region", demo.stack.region, "--table", demo.stack.ref("HashSetTable"), "--added-by", "demo"]
    say(f"$ hashmatch admin hashset import {listing.name} --source 'partner list' --action quarantine")
    hashset.main([*options, "import", str(listing), "--source", "partner list", "--action", "quarantine", "--no-progress"])
    say(f"$ hashmatch admin hashset import {listing.name} --source 'partner list' --action quarantine   (again: nothing lands twice)")
    hashset.main([*options, "import", str(listing), "--source", "partner list", "--action", "quarantine", "--no-progress"])
    copy = Item(f"{Path(listed.name).stem}-reencoded.jpg", reencoded(listed.data))
    # A change reaches a warm matcher through the table's stream, the indexer and the snapshot's
    # manifest, which the matcher checks every HashSetRefreshSeconds.
    refresh = float(demo.stack.parameters["HashSetRefreshSeconds"])
    say(f"(the running matcher checks the snapshot's manifest every {refresh:g} s; each upload below waits until it has the change)")
    for step, command in (("listed", None), ("allowed", ["allow", pdq, "--reason", "demo: a false positive of the partner list"]), ("removed", ["remove", pdq])):
        changed = time.perf_counter()
        if command:
            if step == "removed":
                hashset.main([*options, "allow", pdq, "--undo"])
            say(f"$ hashmatch admin hashset {' '.join(command[:2])} ...")
            changed = time.perf_counter()
            hashset.main([*options, *command])
        demo.until_matcher_has(f"pdq:{pdq}", present=step == "listed")
        reached = time.perf_counter() - changed
        _, found = demo.upload(copy, f"user-uploads/list-{step}-{copy.name}")
        matched = [json.loads(message["Message"])["matches"][0] for message in found]
        outcome = f"MATCH {matched[0]['reference_id'][:20]}… label {matched[0]['label']!r}, source {matched[0]['source']!r}" if matched else "no match"
        say(f"the running matcher had the change {reached:.2f} s after it was made; upload {copy.name} with the hash {step}: {outcome}")
        if (step == "listed") != bool(matched) or reached > FRESHNESS_SECONDS:
            say(f"UNEXPECTED outcome (or slower than {FRESHNESS_SECONDS:g} s)")
            return 1
    return 0


def retro_match(demo: Demo, item: Item) -> int:
    """A copy uploaded while the hash set does not hold the picture, found when the picture is added (docs/retro-match.md)."""
    heading("retro-match: a copy uploaded before its hash existed")
    copy = Item(f"{Path(item.name).stem}-reencoded.jpg", reencoded(item.data))
    key = f"user-uploads/early-{copy.name}"
    _, found = demo.upload(copy, key)
    demo.runner.run_until_idle()  # the log writer: the upload's hashes into the upload hash log (Parquet in S3)
    logged = [o["Key"] for o in demo.s3.list_objects_v2(Bucket=demo.stack.ref("UploadHashLogBucket")).get("Contents", []) if o["Key"].endswith(".parquet")]
    say(f"upload {copy.name} while the hash set does not hold it: {'no match' if not found else 'UNEXPECTED match'}; "
        f"the upload hash log holds {len(logged)} Parquet files of every checked upload's hashes")
    if found:
        return 1
    reference_id = demo.add_reference(item, "demo: known violent-extremist image, added late")
    started = time.perf_counter()
    demo.runner.run_until_idle()  # the table's stream -> RetroMatchFunction (DuckDB over the log locally, Athena in AWS) -> SNS -> takedown
    messages = [json.loads(envelope["Message"]) for envelope in demo.received()]
    retro = [m for m in messages if m.get("retroactive") and m["upload"]["key"] == key]
    if len(retro) != 1:
        say(f"expected one retroactive match message for {key}, got {len(retro)} of {len(messages)} messages")
        return 1
    message = retro[0]
    say(f"{time.perf_counter() - started:.2f} s after adding it: a match message with retroactive: {json.dumps(message['retroactive'])} for {message['upload']['key']} "
        f"(uploaded {message['times']['uploaded_at']}, matched {message['times']['matched_at']}, distance {message['matches'][0]['distance']}, action {message['action']})")
    records = {record["event"]: record for record in demo.audit_records(message["upload"]["upload_id"])}
    takedown = records.get("takedown", {})
    say(f"the takedown subscriber acted on it unchanged: {takedown.get('outcome', 'NO TAKEDOWN')} (audit record: retroactive {takedown.get('retroactive')}, match_id {takedown.get('match_id')})")
    again = demo.runner.invoke("RetroMatchFunction", {"references": [reference_id]})
    demo.runner.run_until_idle()
    new = demo.received()
    say(f"retro-match run again for the same reference: {len(again['published'])} published, {again['already_published']} already published, "
        f"{again['skipped_taken_down']} taken down; {len(new)} new message(s)")
    return 0 if takedown.get("outcome") == "quarantined" and not again["published"] and not new else 1


def review_match(demo: Demo, item: Item) -> int:
    """A reference that asks for review, and a copy of it: a match that goes to the reviewers, not to the takedown."""
    heading("a review match: known media whose source asks for a person to look, not for removal")
    demo.add_reference(item, "demo: known media, its source asks for review", action="review")
    demo.runner.run_until_idle(functions=[INDEXER])
    copy = Item(f"{Path(item.name).stem}-reencoded.jpg", reencoded(item.data))
    _, found = demo.upload(copy, f"user-uploads/for-review-{copy.name}")
    demo.runner.run_until_idle()
    messages = [json.loads(envelope["Message"]) for envelope in found]
    if [m.get("action") for m in messages] != ["review"]:
        say(f"expected one review match for {copy.name}, got {[m.get('action') for m in messages]}")
        return 1
    online = "Versions" in demo.s3.list_object_versions(Bucket=demo.uploads, Prefix=f"user-uploads/for-review-{copy.name}")
    say(f"a match message with action review for {copy.name}: the takedown leaves it {'online' if online else 'UNEXPECTEDLY removed'}; the review queue has it")
    return 0 if online else 1


def review_desk(demo: Demo, keep: bool) -> None:
    """What waits in the review queue, and the command that shows it; with `keep`, the stack stays up until Ctrl-C."""
    from hashmatch_tools.local.shell import shell_exports

    stack = demo.stack
    waiting = demo.sqs.get_queue_attributes(QueueUrl=stack.ref("ReviewQueue"), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
    heading(f"the review queue: {waiting} message(s) for a person (the damaged video held above, the review match, the flood's matches switched to review)")
    reviewer = stack.identity("reviewer")
    command = " ".join(f"{name}={shlex.quote(value)}" for name, value in reviewer.environment.items()) + " .venv/bin/hashmatch review"
    if not keep:
        say("the local stack ends with this demo; to look at them in a browser, run `make demo-review` (this demo with --keep):")
        say("it keeps the stack up and prints the export lines and the `hashmatch review` command, as below, for another shell:")
        say(f"  <the export lines>; {' '.join(f'{name}=...' for name in reviewer.environment)} .venv/bin/hashmatch review   (as a session of the reviewers' role)")
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the stack stops on SIGTERM too
    demo.runner.start(functions=[name for name in demo.runner.mapped_functions() if name != INDEXER])
    demo.runner.serve_function_urls()
    say("the local stack stays up, its pollers running (Ctrl-C stops it). In another shell, paste:")
    print("\n".join(shell_exports(stack)), flush=True)
    say(command + "   # the desk as a session of the reviewers' role (hashmatch-reviewer); it prints its address, http://127.0.0.1:8711/")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopped")


def exchange(demo: Demo, listed: Item, flooded: Item) -> int:
    """A local Tech Against Terrorism server: a scheduled sync adds a hash, an upload matches it, the exchange deletes it; then a flood."""
    from hashmatch.media.hashing import hash_media
    from hashmatch_tools import exchanges
    from hashmatch_tools.local.exchange_server import LocalExchangeServer, TatRecord

    stack, runner = demo.stack, demo.runner
    heading("a hash-sharing exchange: scheduled syncs from a local Tech Against Terrorism server")
    alarms = stack.subscribe_queue("AlarmTopic", "demo-alarm-observer")
    pdq = {item.name: hash_media(item.data, role="reference").frames[0].pdq for item in (listed, flooded)}
    credentials = REPO_ROOT / ".local" / "demo-tat-credentials"
    credentials.write_text("partner:secret")
    with LocalExchangeServer() as server:
        server.tat_records = [TatRecord(pdq[listed.name], 10593, time.time(), ideology="far-right", file_type="jpg")]
        options = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--exchange-table", stack.ref("ExchangeTable"), "--table", stack.ref("HashSetTable"), "--policy-table", stack.ref("MatchPolicyTable"), "--secret-prefix", stack.output("ExchangeSecretPrefix"), "--added-by", "demo"]
        say(f"$ hashmatch admin exchange add tat-demo --kind tat --collaboration all --endpoint {server.tat_url} --credentials-file {credentials.name} --action quarantine")
        exchanges.main([*options, "add", "tat-demo", "--kind", "tat", "--collaboration", "all", "--endpoint", server.tat_url, "--credentials-file", str(credentials), "--action", "quarantine"])
        say(f"(the credentials went to Secrets Manager as {stack.output('ExchangeSecretPrefix')}tat-demo; EventBridge Scheduler runs SyncExchangesFunction every "
            f"{stack.parameters['ExchangeSyncMinutes']} minutes in AWS, the local runner every {SYNC_SECONDS:g} s)")
        runner.start(functions=["SyncExchangesFunction"], schedule_seconds=SYNC_SECONDS)
        key = f"pdq:{pdq[listed.name]}"
        started = time.perf_counter()
        demo.until_matcher_has(key, timeout=60)
        status = exchange_status(stack)
        say(f"the scheduled sync fetched it and the running matcher holds {key[:24]}… {time.perf_counter() - started:.1f} s after the exchange was added: "
            f"{json.dumps({k: status[k] for k in ('status', 'pages', 'added', 'withdrawn', 'malformed')})}, checkpoint {exchange_checkpoint(stack)}")
        copy = Item(f"{Path(listed.name).stem}-reencoded.jpg", reencoded(listed.data))
        _, found = demo.upload(copy, f"user-uploads/exchange-{copy.name}")
        matched = [json.loads(message["Message"]) for message in found]
        if len(matched) != 1:
            say(f"expected one match message, got {len(matched)}")
            return 1
        entry = matched[0]["matches"][0]
        say(f"upload {copy.name}: MATCH {entry['reference_id'][:24]}…, source {entry['source']!r}, label {entry['label']!r}, action {matched[0]['action']}")
        server.tat_records.append(TatRecord(pdq[listed.name], 10593, time.time(), deleted=True))
        deleted = time.perf_counter()
        say("the exchange deletes the hash (a record with deleted: true)")
        demo.until_matcher_has(key, present=False, timeout=60)
        say(f"the next scheduled sync withdrew it and the running matcher dropped it {time.perf_counter() - deleted:.1f} s later: {json.dumps({k: exchange_status(stack)[k] for k in ('status', 'withdrawn')})}")
        _, found = demo.upload(copy, f"user-uploads/exchange-after-{copy.name}")
        say(f"upload {copy.name} again: {'no match' if not found else 'UNEXPECTED match'}")
        if found:
            return 1

        limit = int(stack.parameters["FloodMatches"])
        heading(f"flood protection: one listed hash matching more than FloodMatches ({limit}) uploads within FloodWindowMinutes ({stack.parameters['FloodWindowMinutes']})")
        server.tat_records.append(TatRecord(pdq[flooded.name], 10594, time.time(), ideology="islamist", file_type="jpg"))
        flood_key = f"pdq:{pdq[flooded.name]}"
        demo.until_matcher_has(flood_key, timeout=60)
        say(f"the exchange lists {flooded.name}'s hash (action quarantine); a burst of {limit + 2} copies is uploaded:")
        for number in range(limit + 2):
            copy = Item(f"{Path(flooded.name).stem}-copy{number}.jpg", reencoded(flooded.data, quality=90 - 3 * number))
            _, found = demo.upload(copy, f"user-uploads/burst/{copy.name}")
            say(f"  upload {number + 1}: {', '.join(json.loads(m['Message'])['action'] for m in found) or 'no match'}")
        notices = [json.loads(json.loads(m["Body"])["Message"]) for m in stack.client("sqs").receive_message(QueueUrl=alarms, MaxNumberOfMessages=10).get("Messages", [])]
        say(f"alarm topic: {len(notices)} notice(s): " + "; ".join(json.dumps(notice) for notice in notices))
        say("$ hashmatch admin flood list")
        exchanges.flood_main(["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--policy-table", stack.ref("MatchPolicyTable"), "list"])
        say(f"$ hashmatch admin flood confirm {flood_key[:24]}… --reason 'checked: the list is right'")
        exchanges.flood_main(["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--policy-table", stack.ref("MatchPolicyTable"), "--added-by", "demo", "confirm", flood_key, "--reason", "checked: the list is right"])
        copy = Item(f"{Path(flooded.name).stem}-after-confirm.jpg", reencoded(flooded.data, quality=60))
        _, found = demo.upload(copy, f"user-uploads/burst/{copy.name}")
        actions = [json.loads(m["Message"])["action"] for m in found]
        say(f"upload after the operator confirmed it: {', '.join(actions) or 'no match'}")
        runner.stop()
        runner.start(functions=[INDEXER])
        return 0 if len(notices) == 1 and actions == ["quarantine"] else 1


def exchange_status(stack: LocalStack) -> dict:
    from hashmatch.aws.exchanges import ExchangeTable

    return ExchangeTable(stack.table("ExchangeTable")).status("tat-demo") or {}


def exchange_checkpoint(stack: LocalStack) -> str | None:
    from hashmatch.aws.exchanges import ExchangeTable

    return ExchangeTable(stack.table("ExchangeTable")).checkpoint("tat-demo")


def reencoded(data: bytes, quality: int = 80) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()


def stage_figures(log_path: Path, media: tuple[tuple[str, Item], ...]) -> None:
    """Medians from the handlers' logs: hashing, storing the detail pictures (JPEG + PUT), the second stage."""
    hashed: dict[str, list[dict]] = {}
    matched: dict[str, dict] = {}
    for line in log_path.read_text().splitlines():
        if not line.startswith("{") or '"message"' not in line:
            continue
        entry = json.loads(line)
        if entry.get("message") == "upload hashed":
            hashed.setdefault(entry["upload_id"].split("?")[0].rsplit("/", 1)[-1], []).append(entry)
        elif entry.get("message") in ("match published", "no match"):
            matched[entry["upload_id"]] = entry
    heading("where the time goes (handler logs, medians)")
    for kind, item in media:
        runs = [entry for name, entries in hashed.items() if name.endswith(item.name) for entry in entries]
        if not runs:
            continue
        second = [matched[e["upload_id"]]["second_stage_seconds"] for e in runs if matched.get(e["upload_id"], {}).get("second_stage_seconds") is not None]
        say(f"{kind}: hashing {statistics.median(e['seconds'] for e in runs):.3f} s, "
            f"{runs[0]['detail_pictures']} detail picture(s) stored (JPEG + PUT) {statistics.median(e['detail_pictures_seconds'] for e in runs):.3f} s"
            + (f", second stage in the matcher {statistics.median(second):.3f} s" if second else ", no second stage (PDQ matched)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"default: {DEFAULT_CORPUS}")
    parser.add_argument("--repeat", type=int, default=3, help="latency runs per media kind after the first")
    parser.add_argument("--log", type=Path, default=REPO_ROOT / ".local" / "demo-handlers.log")
    parser.add_argument("--keep", action="store_true", help="keep the local stack up after the demo (until Ctrl-C) and print how to review its queue with `hashmatch review`")
    args = parser.parse_args(argv)
    media = corpus_media(args.corpus)
    corpus: Path | None = args.corpus
    if media is not None:
        source = "team corpus (../shared/corpus)"
    else:
        print(f"No corpus at {args.corpus}; using media made for the demo.", flush=True)
        media, source, corpus = made_media(), "made for the demo", None
    return run(media, source, args.repeat, args.log, corpus, args.keep)


if __name__ == "__main__":
    sys.exit(main())
