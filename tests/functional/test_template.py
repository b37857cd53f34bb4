"""template.yaml against the code: lint, settings, events, dead-letter queues, and the local stack built from it."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
from cfnlint.api import lint_file

from hashmatch.aws import settings
from hashmatch_tools.local.template import function_properties, load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = sorted(name for name, resource in TEMPLATE["Resources"].items() if resource["Type"] == "AWS::Serverless::Function")


def test_template_passes_cfn_lint():
    assert [str(problem) for problem in lint_file(ROOT / "template.yaml")] == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_environment_is_exactly_what_its_settings_read(runner, function):
    variables = set(function_properties(TEMPLATE, function)["Environment"]["Variables"])
    read = settings.environment_names(type(runner.module(function).settings))

    assert variables - settings.POWERTOOLS_VARIABLES == read
    assert settings.POWERTOOLS_VARIABLES <= variables


def test_settings_fail_fast_naming_every_missing_variable():
    with pytest.raises(settings.SettingsError) as raised:
        settings.load(settings.MatchHashesSettings, {"HASH_SET_TABLE": "t", "PDQ_MATCH_THRESHOLD": "many"})

    for name in ("HASHES_BUCKET", "AUDIT_TABLE", "MATCH_TOPIC_ARN", "HASH_SET_REFRESH_SECONDS", "PDQ_MATCH_THRESHOLD"):
        assert name in str(raised.value)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_a_sample_event(function):
    code_dir = Path(function_properties(TEMPLATE, function)["CodeUri"]).name
    assert (ROOT / "events" / f"{code_dir}.json").is_file()


def events_of_type(kind: str) -> list[tuple[str, dict]]:
    return [(f, e) for f in FUNCTIONS for e in function_properties(TEMPLATE, f).get("Events", {}).values() if e["Type"] == kind]


@pytest.mark.parametrize("function, event", events_of_type("SQS"), ids=lambda value: value if isinstance(value, str) else "")
def test_every_queue_a_function_reads_has_a_dead_letter_queue_and_room_for_retries(function, event):
    queue = TEMPLATE["Resources"][event["Properties"]["Queue"]["Fn::GetAtt"][0]]["Properties"]
    timeout = function_properties(TEMPLATE, function)["Timeout"]

    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5  # throttles count as receives
    assert queue["VisibilityTimeout"] >= 6 * timeout  # AWS's advice for SQS event sources
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "MaximumConcurrency" in event["Properties"]["ScalingConfig"]  # a burst cannot take the account's concurrency


@pytest.mark.parametrize("function, event", events_of_type("DynamoDB"), ids=lambda value: value if isinstance(value, str) else "")
def test_every_stream_a_function_reads_sends_its_failed_batches_to_a_dead_letter_queue(function, event):
    properties = event["Properties"]
    destination = properties["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]

    assert TEMPLATE["Resources"][destination]["Type"] == "AWS::SQS::Queue"
    assert 0 < properties["MaximumRetryAttempts"] <= 100  # a failing batch must not block its shard for the stream's whole day


def test_the_indexer_reads_the_hash_set_tables_stream_and_writes_only_the_snapshot_bucket():
    indexer = TEMPLATE["Resources"]["IndexHashSetFunction"]["Properties"]
    [stream] = indexer["Events"].values()
    s3_statements = [statement for policy in indexer["Policies"] if "Statement" in policy for statement in policy["Statement"]]

    assert stream["Properties"]["Stream"] == {"Fn::GetAtt": ["HashSetTable", "StreamArn"]}
    assert {"Fn::Sub": "${SnapshotBucket.Arn}/hash-set/*"} in [statement["Resource"] for statement in s3_statements]
    assert not any("S3CrudPolicy" in policy or "S3WritePolicy" in policy for policy in indexer["Policies"])
    assert TEMPLATE["Resources"]["SnapshotBucket"]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_dead_letter_queue_alarms_on_its_first_message():
    resources = TEMPLATE["Resources"]
    queues = {name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue" and name.endswith("DeadLetterQueue")}
    alarms = [resource["Properties"] for resource in resources.values() if resource["Type"] == "AWS::CloudWatch::Alarm"]
    first_message = [alarm for alarm in alarms if alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"]
    watched = {alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in first_message}

    assert queues == watched and len(queues) == 7
    assert all((alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold") for alarm in first_message)
    assert all(alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] for alarm in alarms)


def test_every_queue_alarms_when_its_oldest_message_is_too_old():
    resources = TEMPLATE["Resources"]
    queues = {name for name, resource in resources.items() if resource["Type"] == "AWS::SQS::Queue"}
    ages = [resource["Properties"] for resource in resources.values() if resource["Type"] == "AWS::CloudWatch::Alarm" and resource["Properties"]["MetricName"] == "ApproximateAgeOfOldestMessage"]
    retention = {name: resources[name]["Properties"]["MessageRetentionPeriod"] for name in queues}

    assert {alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in ages} == queues
    # Each alarms well before SQS would drop the message.
    assert all(alarm["Threshold"] <= retention[alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]] / 2 for alarm in ages)


def statements(policy: dict) -> list[dict]:
    """A policy document's statements, each branch of a conditional one (Fn::If) included."""
    found = []
    for statement in policy["Statement"]:
        found.extend(statement["Fn::If"][1:] if "Fn::If" in statement else [statement])
    return found


def test_every_bucket_is_encrypted_private_and_reachable_over_tls_only():
    resources = TEMPLATE["Resources"]
    buckets = {name: resource["Properties"] for name, resource in resources.items() if resource["Type"] == "AWS::S3::Bucket"}
    tls_only = {
        resource["Properties"]["Bucket"]["Ref"]
        for resource in resources.values()
        if resource["Type"] == "AWS::S3::BucketPolicy"
        for statement in statements(resource["Properties"]["PolicyDocument"])
        if statement["Effect"] == "Deny" and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    }

    assert all("BucketEncryption" in bucket for bucket in buckets.values())
    assert all(all(bucket["PublicAccessBlockConfiguration"].values()) for bucket in buckets.values())
    assert tls_only == set(buckets)


def test_functions_may_only_add_and_read_audit_records():
    audit_actions = set()
    for name in FUNCTIONS:
        for policy in function_properties(TEMPLATE, name).get("Policies", []):
            assert not any(kind in policy for kind in ("DynamoDBCrudPolicy", "DynamoDBWritePolicy")) or policy[next(iter(policy))]["TableName"] != {"Ref": "AuditTable"}, name
            for statement in policy.get("Statement", []):
                if statement["Resource"] == {"Fn::GetAtt": ["AuditTable", "Arn"]}:
                    audit_actions.update(statement["Action"])

    assert audit_actions == {"dynamodb:PutItem", "dynamodb:GetItem"}


def test_the_match_topic_is_encrypted():
    assert TEMPLATE["Resources"]["MatchTopic"]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"


def test_the_local_stack_creates_every_resource_of_the_template(stack):
    assert set(stack.resources) == set(TEMPLATE["Resources"])


def test_only_the_hashers_role_may_send_to_the_hashes_queue():
    policy = TEMPLATE["Resources"]["HashesQueuePolicy"]["Properties"]
    [statement] = policy["PolicyDocument"]["Statement"]

    assert policy["Queues"] == [{"Ref": "HashesQueue"}]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == ("Deny", "*", "sqs:SendMessage")
    # Beside the operators' role, where one is named (tests/functional/test_channels.py reads every channel's writers).
    assert statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"][0] == {"Fn::GetAtt": ["HashUploadFunctionRole", "Arn"]}



def test_review_matches_have_a_queue_of_their_own_and_quarantine_matches_and_holds_the_takedowns():
    subscriptions = {name: resource["Properties"] for name, resource in TEMPLATE["Resources"].items() if resource["Type"] == "AWS::SNS::Subscription"}

    assert {props["Endpoint"]["Fn::GetAtt"][0]: props["FilterPolicy"] for props in subscriptions.values()} == {
        "TakedownQueue": {"action": ["quarantine", "hold"]},
        "ReviewQueue": {"action": ["review", "hold"]},
    }


def test_the_hasher_may_touch_only_its_attempt_marks_in_the_idempotency_table():
    statements = [s for p in TEMPLATE["Resources"]["HashUploadFunction"]["Properties"]["Policies"] if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    [marks] = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}]

    assert sorted(marks["Action"]) == ["dynamodb:DeleteItem", "dynamodb:UpdateItem"]
    assert marks["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["hashing-attempts#*"]}}


def test_evidence_is_read_only_by_the_takedown_the_restore_and_the_named_reader():
    statements = TEMPLATE["Resources"]["EvidenceBucketTlsOnly"]["Properties"]["PolicyDocument"]["Statement"]
    [readers] = [statement for statement in statements if statement["Sid"] == "OnlyNamedReadersRead"]

    assert readers["Effect"] == "Deny" and readers["Principal"] == "*"
    allowed = readers["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert allowed[:2] == [{"Fn::GetAtt": ["TakeDownFunctionRole", "Arn"]}, {"Fn::GetAtt": ["RestoreUploadFunctionRole", "Arn"]}]
    assert allowed[2]["Fn::If"][0] == "HasEvidenceReader"


def test_the_hasher_may_write_objects_only_no_acls_or_lifecycle():
    statements = [s for p in TEMPLATE["Resources"]["HashUploadFunction"]["Properties"]["Policies"] if isinstance(p, dict) and "Statement" in p for s in p["Statement"]]
    policies = [next(iter(p)) for p in TEMPLATE["Resources"]["HashUploadFunction"]["Properties"]["Policies"]]

    assert "S3WritePolicy" not in policies and "S3CrudPolicy" not in policies
    assert not any(action in ("s3:PutObjectAcl", "s3:PutLifecycleConfiguration") for statement in statements for action in statement["Action"])


def test_governance_evidence_yields_to_nobody_but_the_break_glass_role():
    statements = TEMPLATE["Resources"]["EvidenceBucketTlsOnly"]["Properties"]["PolicyDocument"]["Statement"]
    [custody] = [statement for statement in statements if statement["Sid"] == "OnlyBreakGlassLoosensCustody"]

    assert custody["Effect"] == "Deny" and {"s3:BypassGovernanceRetention", "s3:DeleteObjectVersion"} <= set(custody["Action"])
    condition, when_named, when_not = custody["Condition"]["Fn::If"]
    assert condition == "HasBreakGlassRole" and when_not == {"Ref": "AWS::NoValue"}  # none named: denied to every principal


def test_evidence_expires_only_when_its_case_is_closed():
    [rule] = TEMPLATE["Resources"]["EvidenceBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]

    assert rule["TagFilters"] == [{"Key": "hashmatch-case", "Value": "closed"}]


@pytest.mark.parametrize("function", ["LookUpHashesFunction", "RestoreUploadFunction"])
def test_x_ray_keeps_no_answers_of_the_lookup_api_or_the_restore(function):
    code = (ROOT / function_properties(TEMPLATE, function)["CodeUri"] / "app.py").read_text()

    assert "@tracer.capture_lambda_handler(capture_response=False)" in code


def test_the_indexer_halves_a_failing_batch_rather_than_block_its_shard():
    [stream] = TEMPLATE["Resources"]["IndexHashSetFunction"]["Properties"]["Events"].values()

    assert stream["Properties"]["BisectBatchOnFunctionError"] is True


def test_the_evidence_lock_mode_is_a_parameter_governance_by_default():
    lock = TEMPLATE["Resources"]["EvidenceBucket"]["Properties"]["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]

    assert lock["Mode"] == {"Ref": "EvidenceLockMode"}
    assert TEMPLATE["Parameters"]["EvidenceLockMode"]["Default"] == "GOVERNANCE"
    assert TEMPLATE["Parameters"]["EvidenceLockMode"]["AllowedValues"] == ["GOVERNANCE", "COMPLIANCE"]


@pytest.mark.parametrize("bucket", ["EvidenceBucket", "UploadsBucket"])
def test_who_read_or_removed_users_content_is_logged(bucket):
    logging = TEMPLATE["Resources"][bucket]["Properties"]["LoggingConfiguration"]

    assert logging["DestinationBucketName"] == {"Ref": "AccessLogsBucket"}


def test_the_hasher_takes_one_upload_per_invocation():
    [source] = TEMPLATE["Resources"]["HashUploadFunction"]["Properties"]["Events"].values()

    assert source["Properties"]["BatchSize"] == 1


def test_the_hashers_last_delivery_is_the_uploads_queues_last_receive():
    from hashmatch.usecases.hash_upload import MAX_DELIVERIES

    assert MAX_DELIVERIES == TEMPLATE["Resources"]["UploadsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]


def test_only_the_reviewers_role_reads_the_reference_pictures_and_nobody_does_without_one():
    policy = TEMPLATE["Resources"]["ReferencePicturesBucketPolicy"]["Properties"]["PolicyDocument"]
    [conditional] = [statement["Fn::If"] for statement in policy["Statement"] if "Fn::If" in statement]
    condition, reviewers_only, nobody = conditional

    assert condition == "HasEvidenceReader"
    assert reviewers_only["Effect"] == nobody["Effect"] == "Deny" and "s3:GetObject" in reviewers_only["Action"] and "s3:GetObject" in nobody["Action"]
    assert "EvidenceReaderRoleName" in json.dumps(reviewers_only["Condition"]["ArnNotLike"]) and "Condition" not in nobody
