"""The local stack's policy gate: the template's resource policies evaluated as IAM evaluates them, for the writes it gates."""

from __future__ import annotations

from hashmatch_tools.local.policy_gate import asked_of, denying_statement, evaluable, key_policy_grants, principal_arn
from hashmatch_tools.local.template import Intrinsics, load_template, parameter_values

MATCHER = "arn:aws:iam::123456789012:role/hashmatch-local-MatchHashesFunction-role"
INTRUDER = "arn:aws:iam::123456789012:role/hashmatch-ci"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:match"
ONLY_THE_MATCHER = {"Statement": [{"Sid": "OnlyTheMatcher", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC, "Condition": {"ArnNotEquals": {"aws:PrincipalArn": [MATCHER]}}}]}


def test_a_role_sessions_principal_arn_is_its_roles():
    assert principal_arn("arn:aws:sts::123456789012:assumed-role/hashmatch-ci/session") == INTRUDER
    assert principal_arn("arn:aws:iam::123456789012:user/u") == "arn:aws:iam::123456789012:user/u"


def test_a_deny_with_a_negated_condition_denies_everyone_it_does_not_name():
    assert denying_statement(ONLY_THE_MATCHER, "sns:Publish", TOPIC, {"aws:PrincipalArn": INTRUDER})["Sid"] == "OnlyTheMatcher"
    assert denying_statement(ONLY_THE_MATCHER, "sns:Publish", TOPIC, {"aws:PrincipalArn": MATCHER}) is None


def test_a_negated_condition_on_a_key_the_request_lacks_holds_as_iam_evaluates_it():
    # A client's own SendMessage carries no aws:SourceArn: "not the topic" is true of it, so it is denied.
    only_sns = {"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": "*", "Condition": {"ArnNotEquals": {"aws:SourceArn": TOPIC}}}]}

    assert denying_statement(only_sns, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q", {"aws:PrincipalArn": INTRUDER}) is not None
    assert denying_statement(only_sns, "sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:q", {"aws:SourceArn": TOPIC}) is None


def test_a_statement_on_other_actions_or_resources_does_not_apply():
    assert denying_statement(ONLY_THE_MATCHER, "sns:Subscribe", TOPIC, {"aws:PrincipalArn": INTRUDER}) is None
    assert denying_statement(ONLY_THE_MATCHER, "sns:Publish", TOPIC + "-other", {"aws:PrincipalArn": INTRUDER}) is None


def test_a_condition_on_a_key_the_gate_does_not_know_is_not_evaluated():
    assert not evaluable({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})
    assert evaluable(ONLY_THE_MATCHER["Statement"][0])


def test_a_key_policy_grants_signing_only_to_the_principals_it_names():
    policy = {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": [MATCHER]}, "Action": ["kms:Sign"], "Resource": "*"},
    ]}

    assert key_policy_grants(policy, "kms:Sign", {"aws:PrincipalArn": MATCHER})
    assert not key_policy_grants(policy, "kms:Sign", {"aws:PrincipalArn": INTRUDER})


def test_every_deny_of_the_templates_channel_policies_is_one_the_gate_evaluates():
    template = load_template()
    pseudo = {"AWS::AccountId": "123456789012", "AWS::Region": "eu-west-1", "AWS::Partition": "aws"}
    parameters = parameter_values(template, {"OperatorRoleName": "operators", "BreakGlassRoleName": "break-glass"})
    resolved = Intrinsics(template, parameters, pseudo, ref=lambda name: f"ref-{name}", attribute=lambda logical_id, name: f"arn:aws:iam::123456789012:role/{logical_id}")
    kinds = ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy")
    documents = [resolved.resolve(resource["Properties"]["PolicyDocument"]) for resource in template["Resources"].values() if resource["Type"] in kinds]
    denials = [statement for document in documents for statement in document["Statement"] if statement["Effect"] == "Deny" and "aws:SecureTransport" not in str(statement)]

    assert len(denials) >= 10 and all(evaluable(statement) for statement in denials)


def test_an_s3_put_of_an_object_is_asked_as_s3_put_object_on_its_arn():
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/snapshots/hash-set/manifest.json", "QUERY_STRING": "", "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=x"}

    assert asked_of(environ, b"", "eu-west-1", "123456789012") == [("s3:snapshots", "s3:PutObject", "arn:aws:s3:::snapshots/hash-set/manifest.json")]


def test_a_delete_with_governance_bypass_asks_for_the_bypass_too():
    environ = {"REQUEST_METHOD": "DELETE", "PATH_INFO": "/evidence/k", "QUERY_STRING": "versionId=v1", "HTTP_X_AMZ_BYPASS_GOVERNANCE_RETENTION": "true", "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/s3/aws4_request, x"}

    assert [action for _, action, _ in asked_of(environ, b"", "eu-west-1", "123456789012")] == ["s3:DeleteObjectVersion", "s3:BypassGovernanceRetention"]
