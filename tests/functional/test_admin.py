"""The operators' command (`hashmatch admin`) against the local stack: references with their local features, the hash set, dead letters."""

from __future__ import annotations

import json

import pytest
from tests.aws_fixtures import forget_source
from botocore.exceptions import ClientError
from hashmatch_tools.made_media import detailed, image_bytes

from hashmatch.model import FrameFeatures, feature_frames_from_bytes
from hashmatch_tools import admin


@pytest.fixture
def run(stack, capsys):
    """admin.main with the stack's endpoint, table and reference-features bucket; returns (exit status, stdout)."""

    def call(*arguments: str) -> tuple[int, str]:
        common = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--table", stack.ref("HashSetTable"), "--features-bucket", stack.ref("ReferenceFeaturesBucket")]
        status = admin.main([*common, *arguments])
        return status, capsys.readouterr().out

    return call


@pytest.fixture
def picture_file(tmp_path):
    path = tmp_path / "known.png"
    path.write_bytes(image_bytes(detailed(51, 640, 480)))
    return path


def stored_features(stack, key: str) -> list[FrameFeatures]:
    return feature_frames_from_bytes(stack.client("s3").get_object(Bucket=stack.ref("ReferenceFeaturesBucket"), Key=key)["Body"].read())


def test_add_reference_stores_the_reference_local_features(stack, run, picture_file):
    status, out = run("add-reference", str(picture_file), "--label", "known", "--source", "tests", "--reference-id", "admin-features")
    try:
        reference = json.loads(out)
        assert status == 0
        assert reference["features_key"].startswith("references/admin-features/")
        assert len(stored_features(stack, reference["features_key"])) == reference["feature_frames"] == 1
    finally:
        run("remove-reference", "admin-features")


def test_remove_reference_deletes_its_local_features(stack, run, picture_file):
    _, out = run("add-reference", str(picture_file), "--label", "known", "--source", "tests", "--reference-id", "admin-removed")

    status, _ = run("remove-reference", "admin-removed")

    assert status == 0
    with pytest.raises(ClientError, match="NoSuchKey"):
        stored_features(stack, json.loads(out)["features_key"])


def test_replacing_a_reference_deletes_the_features_of_the_media_it_replaced(stack, run, picture_file, tmp_path):
    _, first = run("add-reference", str(picture_file), "--label", "known", "--source", "tests", "--reference-id", "admin-replaced")
    other = tmp_path / "other.png"
    other.write_bytes(image_bytes(detailed(52, 640, 480)))
    _, second = run("add-reference", str(other), "--label", "known", "--source", "tests", "--reference-id", "admin-replaced")
    try:
        with pytest.raises(ClientError, match="NoSuchKey"):
            stored_features(stack, json.loads(first)["features_key"])
        assert len(stored_features(stack, json.loads(second)["features_key"])) == 1
    finally:
        run("remove-reference", "admin-replaced")


def test_add_reference_needs_the_reference_features_bucket(stack, picture_file, monkeypatch, capsys):
    monkeypatch.delenv("HASHMATCH_REFERENCE_FEATURES_BUCKET", raising=False)

    status = admin.main(["--endpoint-url", stack.endpoint_url, "--table", stack.ref("HashSetTable"), "add-reference", str(picture_file), "--label", "x", "--source", "y"])

    [line] = capsys.readouterr().err.splitlines()
    assert status == 2 and line.startswith("hashmatch: error: add-reference: ") and "--features-bucket" in line and "HASHMATCH_REFERENCE_FEATURES_BUCKET" in line


def test_admin_runs_the_hashset_commands_with_the_options_given_before_hashset(run, hash_set, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("f" * 64 + "\n")

    try:
        status, out = run("hashset", "import", str(listing), "--source", "admin-tests", "--no-progress")
    finally:
        forget_source(hash_set, "admin-tests")

    assert status == 0 and json.loads(out)["entries"] == 1


def test_redrive_moves_a_dead_letter_queues_messages_back_to_the_queue_that_dead_lettered_them(stack, run, sqs, drain):
    dead, source = stack.ref("UploadHashLogDeadLetterQueue"), stack.ref("UploadHashLogQueue")
    drain(dead), drain(source)
    bodies = [json.dumps({"n": n}) for n in range(13)]
    for body in bodies:
        sqs.send_message(QueueUrl=dead, MessageBody=body)

    status, out = run("redrive", dead)

    assert status == 0 and json.loads(out) == {"to": source, "moved": 13, "failed": 0}
    assert drain(dead) == []
    assert sorted(json.dumps(message) for message in drain(source)) == sorted(bodies)


def test_redrive_stops_at_the_limit_asked_for(stack, run, sqs, drain):
    dead, source = stack.ref("UploadHashLogDeadLetterQueue"), stack.ref("UploadHashLogQueue")
    drain(dead), drain(source)
    for n in range(5):
        sqs.send_message(QueueUrl=dead, MessageBody=json.dumps({"n": n}))

    status, out = run("redrive", dead, "--max", "2")

    assert status == 0 and json.loads(out)["moved"] == 2
    assert len(drain(source)) == 2 and len(drain(dead)) == 3


def test_redrive_of_a_stream_failure_queue_says_what_to_do_instead(stack, capsys):
    status = admin.main(["--endpoint-url", stack.endpoint_url, "--region", stack.region, "redrive", stack.ref("IndexerDeadLetterQueue")])

    assert status == 2 and "hashmatch admin hashset reindex" in capsys.readouterr().err


def test_add_reference_keeps_small_pictures_of_it_for_reviewers_and_remove_reference_deletes_them(stack, run, picture_file):
    from hashmatch.aws.reference_pictures import ReferencePictures

    pictures = ReferencePictures(stack.client("s3"), stack.ref("ReferencePicturesBucket"))
    with_pictures = ("--pictures-bucket", stack.ref("ReferencePicturesBucket"))
    run(*with_pictures, "add-reference", str(picture_file), "--label", "known", "--source", "tests", "--reference-id", "admin-pictures")
    kept = pictures.timestamps("admin-pictures")

    run(*with_pictures, "remove-reference", "admin-pictures")

    assert kept == [0.0] and pictures.timestamps("admin-pictures") == []
