"""Who may write what the matcher believes: each internal channel's one writer, read from template.yaml, and the local
stack refusing anyone else (its policy gate applies the template's resource policies to writes, as AWS would)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from hashmatch_tools.local.template import Intrinsics, load_template, parameter_values

TEMPLATE = load_template()
ACCOUNT = "123456789012"
OPERATORS = f"arn:aws:iam::{ACCOUNT}:role/operators"  # OperatorRoleName, when one is named: redrives and reindexes
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Region": "eu-west-1", "AWS::Partition": "aws"}


def role(logical_id: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"


def resolved(operator_role: str) -> Intrinsics:
    """The template's intrinsics with every resource's ARN standing for its logical id (a role's: role/<Function>Role)."""
    parameters = parameter_values(TEMPLATE, {"OperatorRoleName": operator_role})
    return Intrinsics(TEMPLATE, parameters, PSEUDO, ref=lambda name: f"ref:{name}", attribute=lambda logical_id, name: role(logical_id) if logical_id.endswith("Role") else f"arn:{logical_id}")


def writers(policy: str, sid: str, operator_role: str = "operators") -> set[str]:
    """The principals a Deny statement of a resource policy spares (aws:PrincipalArn), and "sns" when it spares the match topic's deliveries."""
    document = resolved(operator_role).resolve(TEMPLATE["Resources"][policy]["Properties"]["PolicyDocument"])
    [statement] = [statement for statement in document["Statement"] if statement.get("Sid") == sid]
    assert (statement["Effect"], statement["Principal"]) == ("Deny", "*")
    spared = set()
    for operator, keys in statement["Condition"].items():
        assert operator in ("ArnNotEquals", "ArnNotLike")
        for key, values in keys.items():
            values = [values] if isinstance(values, str) else values
            spared |= {"sns" if key == "aws:SourceArn" and value == "ref:MatchTopic" else value for value in values}
    return spared


# channel -> (the policy, its statement, the writers it spares: the one writer, and the operators' role where named)
CHANNELS = {
    "match topic": ("MatchTopicPolicy", "OnlyTheMatchersPublish", {role("MatchHashesFunctionRole"), role("RetroMatchFunctionRole")}),
    "takedown queue": ("TakedownQueuePolicy", "OnlyTheMatchTopicDelivers", {"sns", OPERATORS}),
    "review queue": ("ReviewQueuePolicy", "OnlyTheMatchTopicDelivers", {"sns", OPERATORS}),
    "hashes queue": ("HashesQueuePolicy", "OnlyTheHasherSends", {role("HashUploadFunctionRole"), OPERATORS}),
    "upload hash log queue": ("UploadHashLogQueuePolicy", "OnlyTheMatcherLogs", {role("MatchHashesFunctionRole"), OPERATORS}),
    "upload hash log": ("UploadHashLogBucketTlsOnly", "OnlyTheLogWriterWritesTheLog", {role("LogUploadHashesFunctionRole")}),
    "hash set snapshot": ("SnapshotBucketTlsOnly", "OnlyTheIndexerWritesTheHashSet", {role("IndexHashSetFunctionRole"), OPERATORS}),
    "detail pictures": ("DetailsBucketTlsOnly", "OnlyTheHasherWritesDetailPictures", {role("HashUploadFunctionRole")}),
}


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_has_one_writer_beside_the_operators_role(channel):
    policy, sid, expected = CHANNELS[channel]

    assert writers(policy, sid) == expected


@pytest.mark.parametrize("channel", ["takedown queue", "review queue", "hashes queue"])
def test_without_an_operators_role_the_channel_has_its_one_writer_only(channel):
    policy, sid, expected = CHANNELS[channel]

    assert writers(policy, sid, operator_role="") == expected - {OPERATORS}


def test_the_manifest_signing_key_signs_for_the_indexer_and_the_operators_only_and_verifies_for_the_readers():
    policy = resolved("operators").resolve(TEMPLATE["Resources"]["ManifestSigningKey"]["Properties"]["KeyPolicy"])
    granted = {statement["Sid"]: (set(statement["Principal"]["AWS"]) if isinstance(statement["Principal"]["AWS"], list) else {statement["Principal"]["AWS"]}, set(statement["Action"])) for statement in policy["Statement"]}

    assert granted["TheIndexerSigns"][0] == {role("IndexHashSetFunctionRole"), OPERATORS}
    assert granted["ReadersVerifyOnly"] == ({role("MatchHashesFunctionRole"), role("LookUpHashesFunctionRole")}, {"kms:Verify", "kms:GetPublicKey", "kms:DescribeKey"})
    assert not any(action in ("kms:Sign", "kms:*") for action in granted["AccountAdministers"][1])


def test_the_hasher_digests_every_object_up_to_the_limit_under_which_a_hold_must_name_a_sha256():
    from hashmatch.aws import upload_objects
    from hashmatch.uploads import DIGEST_MAX_BYTES

    # One limit for both sides: the hasher reads every object up to it for its SHA-256, and the takedown refuses a hold
    # without one for an object under it (that rule's own tests: tests/unit/usecases/test_integrity_rules.py).
    assert upload_objects.DIGEST_MAX_BYTES == DIGEST_MAX_BYTES


# ------------------------------------------------------------------ the local stack refuses every other writer

# An S3 channel's forged object (bucket, key); the others are messages.
OBJECTS = {
    "upload hash log": ("UploadHashLogBucket", "uploads/dt=2026-01-01/forged.parquet"),
    "hash set snapshot": ("SnapshotBucket", "hash-set/changes/forged.json"),
    "detail pictures": ("DetailsBucket", "details/forged.jpegs"),
}
WRITERS = {
    "match topic": "MatchHashesFunction",
    "takedown queue": "operator",
    "hashes queue": "HashUploadFunction",
    "upload hash log queue": "MatchHashesFunction",
    "upload hash log": "LogUploadHashesFunction",
    "hash set snapshot": "IndexHashSetFunction",
    "detail pictures": "HashUploadFunction",
    "manifest signing key": "IndexHashSetFunction",
}


def write(stack, channel: str, signer: str) -> None:
    """The write a forger would make on the channel, signed as `signer`."""
    client = lambda service: stack.client(service, signer)  # noqa: E731
    if channel in OBJECTS:
        bucket, key = OBJECTS[channel]
        client("s3").put_object(Bucket=stack.ref(bucket), Key=key, Body=b"forged")
    elif channel == "match topic":
        client("sns").publish(TopicArn=stack.ref("MatchTopic"), Message="{}")
    elif channel == "manifest signing key":
        client("kms").sign(KeyId=stack.attribute("ManifestSigningKey", "Arn"), Message=b"a manifest", MessageType="RAW", SigningAlgorithm="ECDSA_SHA_256")
    else:
        queue = {"takedown queue": "TakedownQueue", "hashes queue": "HashesQueue", "upload hash log queue": "UploadHashLogQueue"}[channel]
        client("sqs").send_message(QueueUrl=stack.ref(queue), MessageBody="{}")


@pytest.mark.parametrize("channel", WRITERS)
def test_a_forged_write_by_another_role_of_the_account_is_refused_and_recorded(stack, channel):
    with pytest.raises(ClientError) as refused:
        write(stack, channel, "intruder")

    assert refused.value.response["Error"]["Code"] in ("AccessDenied", "AuthorizationError", "AccessDeniedException")
    assert stack.refusals()[-1]["principal"] == stack.identity("intruder").principal_arn


@pytest.mark.parametrize("channel", WRITERS)
def test_the_channels_own_writer_is_let_through(stack, channel, drain):
    write(stack, channel, WRITERS[channel])

    for queue in ("TakedownQueue", "HashesQueue", "UploadHashLogQueue"):
        drain(stack.ref(queue))  # the test's message must not reach a function
    if channel in OBJECTS:  # nor its object a reader: the writer may delete it too
        bucket, key = OBJECTS[channel]
        for stored in stack.client("s3").list_object_versions(Bucket=stack.ref(bucket), Prefix=key).get("Versions", []):
            stack.client("s3", WRITERS[channel]).delete_object(Bucket=stack.ref(bucket), Key=key, VersionId=stored["VersionId"])


def test_a_matcher_cannot_write_the_snapshot_other_matchers_believe(stack):
    with pytest.raises(ClientError):
        stack.client("s3", "MatchHashesFunction").put_object(Bucket=stack.ref("SnapshotBucket"), Key="hash-set/manifest.json", Body=b"{}")
