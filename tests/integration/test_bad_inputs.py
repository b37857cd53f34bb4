"""Bad inputs uploaded through the whole local chain: each ends as a recorded outcome (hashed, rejected, or held for
review), none in a dead-letter queue. Their memory and time as the hasher's budget allows: docs/bad-inputs.md."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from hashmatch_tools.made_media import declared_png, encode_video, heif_header, panning, repeated_gif, textured, with_display_rotation

# name -> (bytes, what the pipeline records: "hashed" has no audit record, "rejected:<reason>" is left in place,
# "held:<reason>" is quarantined for review)
BAD_INPUTS = {
    "decompression bomb.png": (lambda: declared_png(100_000, 100_000), "held:oversized"),
    "heic photo.heic": (lambda: heif_header(b"heic") + bytes(4096), "held:unsupported"),
    "many frames.gif": (lambda: repeated_gif(np.full((1, 1, 3), 90, np.uint8), 200_000), "held:oversized"),
    "one pixel.gif": (lambda: repeated_gif(np.full((1, 1, 3), 90, np.uint8), 3), "hashed"),
    "cut short.mp4": (lambda: encode_video([textured(s) for s in range(40)], fps=10)[:6000], "held:corrupt"),
    "rotated phone video.mp4": (lambda: with_display_rotation(encode_video(panning(10, 30, 320, 240)), 90), "hashed"),
    "notes.txt": (lambda: b"not media, just words\n" * 100, "rejected:unsupported"),
    "empty.jpg": (lambda: b"", "rejected:empty"),
}


def outcome(audit, upload_id: str) -> str:
    events = {record["event"]: record for record in audit.events(upload_id)}
    if "cannot-check" in events:
        assert events["takedown"]["outcome"] == "held"
        return f"held:{events['cannot-check']['reason']}"
    if "rejected" in events:
        return f"rejected:{events['rejected']['reason']}"
    return "hashed" if not events else ",".join(sorted(events))


def dead_lettered(stack, sqs) -> int:
    names = ("UploadsDeadLetterQueue", "HashesDeadLetterQueue", "TakedownDeadLetterQueue")
    return sum(int(sqs.get_queue_attributes(QueueUrl=stack.ref(name), AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]) for name in names)


@pytest.fixture(scope="module")
def uploaded_bad_inputs(stack, runner):
    """Every bad input uploaded under a key with spaces, then the chain run until idle; returns name -> upload id."""
    s3, bucket, prefix = stack.client("s3"), stack.ref("UploadsBucket"), f"bad inputs/{uuid.uuid4().hex[:6]} "
    before, dead_before = len(runner.invocations), dead_lettered(stack, stack.client("sqs"))
    ids = {}
    for name, (make, _expected) in BAD_INPUTS.items():
        version = s3.put_object(Bucket=bucket, Key=prefix + name, Body=make())["VersionId"]
        ids[name] = f"s3://{bucket}/{prefix}{name}?versionId={version}"
    runner.run_until_idle(timeout=300)
    return ids, runner.invocations[before:], dead_lettered(stack, stack.client("sqs")) - dead_before


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_a_bad_input_ends_as_its_recorded_outcome(uploaded_bad_inputs, audit, name):
    ids, _, _ = uploaded_bad_inputs

    assert outcome(audit, ids[name]) == BAD_INPUTS[name][1]


def test_no_bad_input_fails_a_function_or_reaches_a_dead_letter_queue(uploaded_bad_inputs):
    _, invocations, dead_letters_added = uploaded_bad_inputs

    assert [i.error for i in invocations if i.error] == []
    assert dead_letters_added == 0
