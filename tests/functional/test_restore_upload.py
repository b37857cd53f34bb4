"""RestoreUploadFunction behind its IAM function URL: signed calls by the restore role, refusals, and the exemption's scope."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.credentials import Credentials
from hashmatch_tools.made_media import image_bytes, textured

from hashmatch.uploads import Upload
from hashmatch_tools import admin
from hashmatch_tools.local.identities import RESTORER_ROLE
from hashmatch_tools.lookup_client import post_lookup

FUNCTION = "RestoreUploadFunction"
TAKEDOWN = "TakeDownFunction"
REASON = "complaint C-17 upheld: news reporting"


@pytest.fixture(scope="module")
def url(stack) -> str:
    return stack.output("RestoreUploadFunctionUrl")


@pytest.fixture
def call(stack, url):
    """POST a body to the restore URL signed as one of the local identities (None: unsigned); returns (status, answer)."""

    def post(identity: str | None, body: dict) -> tuple[int, dict]:
        signer = stack.identity(identity) if identity else None
        credentials = Credentials(signer.access_key, signer.secret_key) if signer else None
        status, answer, _ = post_lookup(url, body, credentials, stack.region)
        return status, answer

    return post


@pytest.fixture
def taken_down(runner, s3, bucket, load_event):
    """An upload of bytes of its own (`seed`), quarantined by the takedown; returns (upload, bytes)."""

    def take(seed: int, key: str | None = None) -> tuple[Upload, bytes]:
        own = image_bytes(textured(seed, 320, 240), "JPEG", quality=80)
        key = key or f"incoming/{uuid.uuid4().hex[:8]} own.jpg"
        put = s3.put_object(Bucket=bucket, Key=key, Body=own)
        upload = Upload.from_object(bucket, key, put["VersionId"], etag=put["ETag"].strip('"'), size=len(own))
        runner.invoke(TAKEDOWN, naming(load_event("take_down"), upload, sha256=hashlib.sha256(own).hexdigest()))
        return upload, own

    return take


def naming(event: dict, upload: Upload, sha256: str) -> dict:
    """events/take_down.json with its match message naming `upload` (with the SHA-256 the hasher saw)."""
    envelope = json.loads(event["Records"][0]["body"])
    message = json.loads(envelope["Message"])
    message["upload"].update(upload_id=upload.upload_id, bucket=upload.bucket, key=upload.key, version_id=upload.version_id, etag=upload.etag, size=upload.size, sha256=sha256)
    envelope["Message"] = json.dumps(message)
    event["Records"][0]["body"] = json.dumps(envelope)
    return event


def body(upload: Upload, **fields) -> dict:
    return {"upload_id": upload.upload_id, "reason": REASON, **fields}


# ------------------------------------------------------------------ who may restore


def test_a_call_signed_by_the_restore_role_puts_the_upload_back(call, s3, taken_down):
    upload, own = taken_down(41)

    status, record = call("restorer", body(upload))

    assert status == 200
    restored = s3.get_object(Bucket=upload.bucket, Key=upload.key)
    assert restored["Body"].read() == own
    assert record["restored_as"] == Upload.object_id(upload.bucket, upload.key, restored["VersionId"])


def test_the_restore_record_names_the_signers_arn_as_requested_by(call, stack, audit, taken_down):
    upload, _ = taken_down(42)

    call("restorer", body(upload))

    assert audit.get(upload.upload_id, "restored")["requested_by"] == stack.identity("restorer").arn
    assert f"assumed-role/{RESTORER_ROLE}/" in stack.identity("restorer").arn


def test_the_exemption_names_the_signers_arn_as_requested_by(call, stack, audit, taken_down):
    upload, own = taken_down(43)

    call("restorer", body(upload))

    exemption = audit.exemption(hashlib.sha256(own).hexdigest(), bucket=upload.bucket, key=upload.key)
    assert (exemption["requested_by"], exemption["reason"]) == (stack.identity("restorer").arn, REASON)


def test_an_unsigned_call_is_refused_and_restores_nothing(call, s3, audit, taken_down):
    upload, _ = taken_down(44)

    status, answer = call(None, body(upload))

    assert (status, answer) == (403, {"Message": "Forbidden"})
    assert audit.get(upload.upload_id, "restored") is None
    assert s3.list_objects_v2(Bucket=upload.bucket, Prefix=upload.key).get("KeyCount") == 0


@pytest.mark.parametrize("identity", ["operator", "labels-reader", "partner"])
def test_a_call_signed_by_anyone_but_the_restore_role_is_refused(call, audit, taken_down, identity):
    upload, _ = taken_down(45)

    status, answer = call(identity, body(upload))

    assert status == 403 and RESTORER_ROLE in answer["reason"]
    assert audit.get(upload.upload_id, "restored") is None


def test_a_body_naming_its_own_requester_is_refused(call, audit, taken_down):
    upload, _ = taken_down(46)

    status, answer = call("restorer", body(upload, requested_by="someone-else@example.org"))

    assert status == 400 and "requested_by" in answer["reason"]
    assert audit.get(upload.upload_id, "restored") is None


def test_a_direct_invocation_without_a_function_url_request_context_is_refused(runner, audit, taken_down):
    upload, _ = taken_down(47)
    handler = runner.module(FUNCTION)

    with pytest.raises(handler.NotAFunctionUrlCall, match="function URL"):
        runner.invoke(FUNCTION, {**body(upload), "requested_by": "reviewer@example.org"})

    assert audit.get(upload.upload_id, "restored") is None


def test_the_sample_event_reaches_the_handler_as_a_call_by_its_signer(runner, load_event):
    # The sample's upload was never quarantined here: the handler got as far as looking for it.
    answer = runner.invoke(FUNCTION, load_event("restore_upload"))

    assert answer["statusCode"] == 404 and "no quarantine" in json.loads(answer["body"])["reason"]


# ------------------------------------------------------------------ refusals of a restore the role may ask for


def test_restoring_an_upload_that_was_never_quarantined_answers_404(call, bucket):
    status, answer = call("restorer", body(Upload.from_object(bucket, "incoming/never.jpg", "v1")))

    assert (status, answer["error"]) == (404, "NotQuarantined")


def test_a_restore_request_without_a_reason_is_refused_naming_it(call, taken_down):
    upload, _ = taken_down(48)

    status, answer = call("restorer", body(upload, reason=""))

    assert status == 400 and "reason" in answer["reason"]


def test_a_restore_that_would_overwrite_a_newer_upload_is_refused_and_exempts_nothing(call, s3, audit, taken_down):
    upload, own = taken_down(49)
    s3.put_object(Bucket=upload.bucket, Key=upload.key, Body=b"the uploader's next file")

    status, answer = call("restorer", body(upload))

    assert (status, answer["error"]) == (409, "KeyOccupied")
    assert audit.exemption(hashlib.sha256(own).hexdigest(), bucket=upload.bucket, key=upload.key) is None
    assert s3.get_object(Bucket=upload.bucket, Key=upload.key)["Body"].read() == b"the uploader's next file"


def test_bytes_whose_exemption_ended_are_not_restored_a_second_time_at_the_same_key(call, s3, audit, taken_down):
    first, own = taken_down(50)
    call("restorer", body(first))
    audit.revoke_exemption(hashlib.sha256(own).hexdigest(), bucket=first.bucket, key=first.key, reason="fraudulent complaint", requested_by="lead")
    s3.delete_object(Bucket=first.bucket, Key=first.key)
    again, _ = taken_down(50, key=first.key)

    status, answer = call("restorer", body(again))

    assert (status, answer["error"]) == (409, "ExemptionSpent")
    assert audit.get(again.upload_id, "restored") is None


def test_the_exemption_of_a_restore_ends_after_the_stacks_exemption_days(call, stack, audit, taken_down):
    upload, own = taken_down(51)

    call("restorer", body(upload))

    expires = datetime.fromisoformat(audit.exemption(hashlib.sha256(own).hexdigest(), bucket=upload.bucket, key=upload.key)["expires_at"])
    days = int(stack.parameters["RestoreExemptionDays"])
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(days=days))) < timedelta(minutes=5)


# ------------------------------------------------------------------ the exemption's scope


def test_an_upload_scoped_exemption_does_not_exempt_the_same_bytes_at_another_key(call, audit, taken_down):
    upload, own = taken_down(52)

    call("restorer", body(upload))

    digest = hashlib.sha256(own).hexdigest()
    assert audit.exemption(digest, bucket=upload.bucket, key=upload.key)["scope"] == "upload"
    assert audit.exemption(digest, bucket=upload.bucket, key="incoming/someone else's copy.jpg") is None


def test_a_bytes_scoped_exemption_exempts_the_same_bytes_at_any_key(call, audit, taken_down):
    upload, own = taken_down(53)

    call("restorer", body(upload, scope="bytes"))

    assert audit.exemption(hashlib.sha256(own).hexdigest(), bucket=upload.bucket, key="incoming/someone else's copy.jpg")["scope"] == "bytes"


def test_the_restore_record_keeps_the_scope_and_the_exemption(call, audit, taken_down):
    upload, own = taken_down(54)

    call("restorer", body(upload, scope="bytes"))

    record = audit.get(upload.upload_id, "restored")
    assert (record["scope"], record["exemption"]["id"]) == ("bytes", f"sha256:{hashlib.sha256(own).hexdigest()}")


# ------------------------------------------------------------------ hashmatch admin


@pytest.fixture
def as_identity(stack, monkeypatch):
    """Sign as one of the local identities (the default credential chain reads the environment)."""

    def use(name: str) -> None:
        identity = stack.identity(name)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", identity.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", identity.secret_key)

    return use


def test_hashmatch_admin_restore_signs_as_the_restore_role(stack, url, audit, taken_down, as_identity, capsys):
    upload, _ = taken_down(55)
    as_identity("restorer")

    status = admin.main(["--region", stack.region, "restore", upload.upload_id, "--reason", REASON, "--url", url])

    assert status == 0
    assert json.loads(capsys.readouterr().out)["requested_by"] == stack.identity("restorer").arn


def test_hashmatch_admin_restore_as_another_identity_is_refused(stack, url, audit, taken_down, as_identity, capsys):
    upload, _ = taken_down(56)
    as_identity("operator")

    status = admin.main(["--region", stack.region, "restore", upload.upload_id, "--reason", REASON, "--url", url])

    assert status == 2 and "403" in capsys.readouterr().err
    assert audit.get(upload.upload_id, "restored") is None


def test_an_operator_can_revoke_an_upload_scoped_exemption(call, stack, audit, taken_down):
    upload, own = taken_down(57)
    call("restorer", body(upload))
    digest = hashlib.sha256(own).hexdigest()
    common = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--audit-table", stack.ref("AuditTable")]

    status = admin.main([*common, "revoke-exemption", digest, "--object", f"s3://{upload.bucket}/{upload.key}", "--reason", "fraudulent complaint", "--requested-by", "lead"])

    assert status == 0 and audit.exemption(digest, bucket=upload.bucket, key=upload.key) is None


def test_an_operator_can_revoke_a_bytes_scoped_exemption(call, stack, audit, taken_down):
    upload, own = taken_down(58)
    call("restorer", body(upload, scope="bytes"))
    digest = hashlib.sha256(own).hexdigest()
    common = ["--endpoint-url", stack.endpoint_url, "--region", stack.region, "--audit-table", stack.ref("AuditTable")]

    status = admin.main([*common, "revoke-exemption", digest, "--reason", "fraudulent complaint", "--requested-by", "lead"])

    assert status == 0 and audit.exemption(digest) is None
    assert audit.get(f"sha256:{digest}", "exemption-revoked")["revoked_by"].startswith("arn:aws:")


# ------------------------------------------------------------------ the template


def test_the_restore_url_takes_only_iam_signed_calls_and_its_policy_grants_only_the_restore_role():
    from hashmatch_tools.local.template import load_template

    resources = load_template()["Resources"]
    permission = resources["RestoreUploadUrlPermission"]

    assert resources[FUNCTION]["Properties"]["FunctionUrlConfig"] == {"AuthType": "AWS_IAM"}
    assert (permission["Condition"], permission["Properties"]["Action"], permission["Properties"]["FunctionUrlAuthType"]) == ("HasRestoreRole", "lambda:InvokeFunctionUrl", "AWS_IAM")
    assert permission["Properties"]["Principal"] == {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${RestoreRoleName}"}


def test_without_a_restore_role_the_url_grants_nobody(stack):
    from hashmatch_tools.local.stack import LocalStack

    assert stack.permissions  # the local stack names a restore role: granted
    unnamed = LocalStack(parameters={"RestoreRoleName": ""})
    assert unnamed.condition("HasRestoreRole") is False


# ------------------------------------------------------------------ uploads held because they could not be checked


@pytest.fixture
def held(runner, s3, bucket):
    """An upload of bytes of its own quarantined by a hold message (sha256 "" for one held unread); returns (upload, bytes)."""
    from hashmatch.clock import now
    from hashmatch.messages.hashes import HashesMessage, Unchecked
    from hashmatch.messages.building import hold_message
    from hashmatch.vocabulary import CannotCheckReason

    def hold(seed: int, unread: bool = False) -> tuple[Upload, bytes]:
        own = image_bytes(textured(seed, 320, 240), "JPEG", quality=80)
        key = f"incoming/{uuid.uuid4().hex[:8]} held.jpg"
        put = s3.put_object(Bucket=bucket, Key=key, Body=own)
        upload = Upload.from_object(bucket, key, put["VersionId"], etag=put["ETag"].strip('"'), size=len(own))
        sha256 = "" if unread else hashlib.sha256(own).hexdigest()
        request = HashesMessage(upload, None, now(), unchecked=Unchecked(CannotCheckReason.OVERSIZED, "over the limit", sha256))
        message = hold_message(request, CannotCheckReason.OVERSIZED, "over the limit").model_dump_json()
        envelope = {"Type": "Notification", "MessageId": str(uuid.uuid4()), "Message": message, "Timestamp": now(), "TopicArn": "arn:aws:sns:eu-west-1:123456789012:match", "SignatureVersion": "1", "Signature": "x", "SigningCertURL": "https://sns.eu-west-1.amazonaws.com/x.pem", "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"}
        record = {"messageId": str(uuid.uuid4()), "receiptHandle": "h", "body": json.dumps(envelope), "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0", "SenderId": "x", "ApproximateFirstReceiveTimestamp": "0"}, "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:takedown", "awsRegion": "eu-west-1"}
        runner.invoke(TAKEDOWN, {"Records": [record]})
        return upload, own

    return hold


def test_a_held_upload_that_also_matched_is_not_restored(call, s3, audit, held):
    upload, _ = held(61)
    audit.record(upload.upload_id, "matched", match_id="m-1", references=["ref-1"])

    status, answer = call("restorer", body(upload))

    assert (status, answer["error"]) == (409, "AlsoMatched")
    assert s3.list_object_versions(Bucket=upload.bucket, Prefix=upload.key).get("Versions", []) == []


def test_a_held_upload_read_for_no_digest_is_exempted_by_its_restored_version_never_its_key(call, s3, audit, held, monkeypatch):
    from hashmatch.usecases import take_down

    monkeypatch.setattr(take_down, "DIGEST_MAX_BYTES", 100)  # these bytes stand for an object over 2 GiB
    upload, own = held(62, unread=True)

    status, record = call("restorer", body(upload, scope="bytes"))

    assert status == 200 and record["scope"] == "version" and record["exemption"]["covers"] == "cannot-check"
    restored = s3.head_object(Bucket=upload.bucket, Key=upload.key)
    as_restored = {"bucket": upload.bucket, "key": upload.key, "etag": restored["ETag"].strip('"'), "size": len(own), "hold": True}
    assert audit.exemption("", upload_id=record["restored_as"], **as_restored)["scope"] == "version"
    assert audit.exemption("", upload_id=Upload.object_id(upload.bucket, upload.key, "a-later-version"), **as_restored) is None
