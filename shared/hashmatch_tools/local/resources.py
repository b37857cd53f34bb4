"""Creating template.yaml's resources other than Lambda's in moto: queues, buckets, topics and keys with their policies, tables, subscriptions, alarms, secrets, IAM policies, Glue and Athena.

One creator per resource type (CREATORS): it takes the resource's properties as the template
writes them, resolves them through the stack (which creates what they name first), makes the
API calls CloudFormation would, and returns the Resource with the physical id and the Fn::GetAtt
attributes the rest of the template reads. Where moto cannot do what the template asks, the
creator says so through stack.deviate; resource policies moto does not enforce are handed to the
policy gate in front of it (stack.enforce, policy_gate.py). The Lambda side (functions, layers,
permissions) is functions.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from hashmatch_tools.local.server import ACCOUNT_ID


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)


class StackContext(Protocol):
    """What a creator uses of the stack it creates a resource in (LocalStack)."""

    region: str
    visibility_timeout: int | None  # seconds every queue gets locally, instead of the template's; None keeps the template's

    def resolve(self, value: Any) -> Any: ...

    def client(self, service: str) -> Any: ...

    def default_name(self, logical_id: str) -> str: ...

    def deviate(self, deviation: str) -> None: ...

    def enforce(self, owner: str, document: dict) -> None: ...

    def enforce_key(self, owners: list[str], document: dict) -> None: ...


Creator = Callable[[Any, str, dict], Resource]


# ---------------------------------------------------------------- SQS


def create_queue(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("QueueName") or stack.default_name(logical_id)
    attributes = {}
    if "VisibilityTimeout" in props:
        attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
    if stack.visibility_timeout is not None:
        attributes["VisibilityTimeout"] = str(stack.visibility_timeout)
    if "MessageRetentionPeriod" in props:
        attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    if "SqsManagedSseEnabled" in props:
        attributes["SqsManagedSseEnabled"] = str(props["SqsManagedSseEnabled"]).lower()
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return Resource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def create_queue_policy(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    sqs = stack.client("sqs")
    for url in props["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        stack.enforce(arn, props["PolicyDocument"])
    stack.deviate("queue and topic policies: moto does not enforce them; the policy gate applies their denials to SendMessage and Publish")
    return Resource(logical_id, "AWS::SQS::QueuePolicy", stack.default_name(logical_id))


# ---------------------------------------------------------------- S3


def create_bucket(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("BucketName") or stack.default_name(logical_id).lower()
    s3 = stack.client("s3")
    request: dict[str, Any] = {"Bucket": name}
    if stack.region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": stack.region}
    if props.get("ObjectLockEnabled"):
        request["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**request)
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]})
    if "BucketEncryption" in props:
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(rule) for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]},
        )
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "LifecycleConfiguration" in props:
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in props["LifecycleConfiguration"]["Rules"]]})
    if "ObjectLockConfiguration" in props:
        # moto rejects CopyObject into a bucket with a default retention unless the request
        # carries a header S3 asks only of uploads; so the lock is enabled, the default not set.
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        stack.deviate(f"{logical_id}: Object Lock enabled without the template's default retention (moto limitation)")
    notifications = props.get("NotificationConfiguration")
    if notifications:
        configuration = {}
        if "QueueConfigurations" in notifications:
            configuration["QueueConfigurations"] = [
                {"QueueArn": entry["Queue"], "Events": [entry["Event"]], **({"Filter": entry["Filter"]} if "Filter" in entry else {})}
                for entry in notifications["QueueConfigurations"]
            ]
        if "TopicConfigurations" in notifications:
            configuration["TopicConfigurations"] = [
                {"TopicArn": entry["Topic"], "Events": [entry["Event"]], **({"Filter": entry["Filter"]} if "Filter" in entry else {})}
                for entry in notifications["TopicConfigurations"]
            ]
        # Like S3, moto answers this with an s3:TestEvent on each destination.
        s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=configuration)
    return Resource(logical_id, "AWS::S3::Bucket", name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"})


def create_bucket_policy(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    document = props["PolicyDocument"]
    # The local endpoint is plain HTTP on 127.0.0.1, and moto applies a policy's denials: a
    # TLS-only statement would refuse every local request, so it is left out here.
    # Every local function and test signs with the same credentials, so a denial scoped by the caller's
    # role (aws:PrincipalArn) would refuse all of them or none: it is left out too.
    tls = [statement for statement in document["Statement"] if "aws:SecureTransport" in json.dumps(statement.get("Condition", {}))]
    by_principal = [statement for statement in document["Statement"] if "aws:PrincipalArn" in json.dumps(statement.get("Condition", {}))]
    kept = [statement for statement in document["Statement"] if statement not in tls and statement not in by_principal]
    if kept:
        stack.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps({**document, "Statement": kept}))
    if tls:
        stack.deviate("TLS-only bucket policies: not applied (the local endpoint is plain HTTP)")
    if by_principal:
        # moto would read a condition on the caller as no condition (denying everyone): the policy gate applies them instead.
        stack.enforce(f"s3:{props['Bucket']}", {**document, "Statement": by_principal})
        stack.deviate("bucket policy statements scoped by the caller's role (aws:PrincipalArn): applied to writes by the policy gate, not to reads (the evidence bucket's readers are not enforced locally)")
    return Resource(logical_id, "AWS::S3::BucketPolicy", stack.default_name(logical_id))


def _encryption_rule(rule: dict) -> dict:
    """A CloudFormation bucket-encryption rule in the S3 API's shape."""
    converted = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    if "BucketKeyEnabled" in rule:
        converted["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
    return converted


def _lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    tags = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in rule.get("TagFilters", [])]
    if tags:
        converted["Filter"] = {"Tag": tags[0]} if len(tags) == 1 and not rule.get("Prefix") else {"And": {"Prefix": rule.get("Prefix", ""), "Tags": tags}}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return converted


# ---------------------------------------------------------------- DynamoDB


def create_table(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("TableName") or stack.default_name(logical_id)
    request = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props["ProvisionedThroughput"]
    if "GlobalSecondaryIndexes" in props:
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": props["StreamSpecification"]["StreamViewType"]}
    dynamodb = stack.client("dynamodb")
    description = dynamodb.create_table(**request)["TableDescription"]
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        # moto keeps the setting but deletes nothing: expired items stay until the server stops.
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
    attributes = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes)


# ---------------------------------------------------------------- SNS


def create_topic(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("TopicName") or stack.default_name(logical_id)
    attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if "KmsMasterKeyId" in props else {}
    arn = stack.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
    return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})


def create_topic_policy(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    sns = stack.client("sns")
    for arn in props["Topics"]:
        sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"]))
        stack.enforce(arn, props["PolicyDocument"])
    stack.deviate("queue and topic policies: moto does not enforce them; the policy gate applies their denials to SendMessage and Publish")
    return Resource(logical_id, "AWS::SNS::TopicPolicy", stack.default_name(logical_id))


def create_subscription(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    attributes = {}
    if "FilterPolicy" in props:
        attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
    if "FilterPolicyScope" in props:
        attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
    if "RawMessageDelivery" in props:
        attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
    arn = stack.client("sns").subscribe(
        TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    return Resource(logical_id, "AWS::SNS::Subscription", arn)


# ---------------------------------------------------------------- KMS and IAM


def create_key(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    request = {"Policy": json.dumps(props["KeyPolicy"]), "KeyUsage": props.get("KeyUsage", "ENCRYPT_DECRYPT"), "KeySpec": props.get("KeySpec", "SYMMETRIC_DEFAULT")}
    if "Description" in props:
        request["Description"] = props["Description"]
    key = stack.client("kms").create_key(**request)["KeyMetadata"]
    # moto signs and verifies (ECDSA) but reads no key policy: the policy gate lets only the principals it names sign and verify.
    stack.enforce_key([f"kms:{key['Arn']}", f"kms:{key['KeyId']}"], props["KeyPolicy"])
    stack.deviate("KMS key policies: moto does not enforce them; the policy gate applies their grants of kms:Sign and kms:Verify, nothing else")
    return Resource(logical_id, "AWS::KMS::Key", key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def create_managed_policy(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("ManagedPolicyName") or stack.default_name(logical_id)
    arn = stack.client("iam").create_policy(PolicyName=name, PolicyDocument=json.dumps(props["PolicyDocument"]), Description=props.get("Description", ""))["Policy"]["Arn"]
    stack.deviate(f"{logical_id}: created in moto's IAM, attached to nobody and evaluated by nothing (the local function URLs stand in for IAM)")
    return Resource(logical_id, "AWS::IAM::ManagedPolicy", arn)


# ---------------------------------------------------------------- CloudWatch


def create_alarm(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props.get("AlarmName") or stack.default_name(logical_id)
    request = {key: props[key] for key in ("AlarmDescription", "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions", "InsufficientDataActions", "OKActions") if key in props}
    request["Threshold"] = float(request["Threshold"])
    request["Dimensions"] = props.get("Dimensions", [])
    stack.client("cloudwatch").put_metric_alarm(AlarmName=name, **request)
    stack.deviate("CloudWatch alarms: created, but moto does not evaluate them (no SQS metrics locally)")
    return Resource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": f"arn:aws:cloudwatch:{stack.region}:{ACCOUNT_ID}:alarm:{name}"})


# ---------------------------------------------------------------- Secrets Manager


def create_secret(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    """A secret, its value generated as CloudFormation's GenerateSecretString does (moto's GetRandomPassword), or given."""
    props = stack.resolve(properties)
    client = stack.client("secretsmanager")
    value = props.get("SecretString")
    generate = props.get("GenerateSecretString")
    if value is None and generate is not None:
        options = {name: generate[name] for name in ("PasswordLength", "ExcludePunctuation", "ExcludeCharacters", "ExcludeUppercase", "ExcludeLowercase", "ExcludeNumbers", "IncludeSpace", "RequireEachIncludedType") if name in generate}
        value = client.get_random_password(**options)["RandomPassword"]
    name = props.get("Name") or stack.default_name(logical_id)
    arn = client.create_secret(Name=name, Description=props.get("Description", ""), SecretString=value or "")["ARN"]
    return Resource(logical_id, "AWS::SecretsManager::Secret", arn, {"Id": arn})


# ---------------------------------------------------------------- Glue and Athena (retro-match's SQL in AWS)


def create_glue_database(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    name = props["DatabaseInput"]["Name"]
    stack.client("glue").create_database(DatabaseInput={"Name": name, "Description": props["DatabaseInput"].get("Description", "")})
    return Resource(logical_id, "AWS::Glue::Database", name)


def create_glue_table(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    table = props["TableInput"]
    stack.client("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
    stack.deviate(f"{logical_id}: the Glue table exists in moto, but nothing queries it; retro-match runs its SQL on DuckDB over the same files (RetroMatchEngine=duckdb)")
    return Resource(logical_id, "AWS::Glue::Table", f"{props['DatabaseName']}|{table['Name']}")


def create_athena_workgroup(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    configuration = props.get("WorkGroupConfiguration", {})
    result = configuration.get("ResultConfiguration", {})
    stack.client("athena").create_work_group(
        Name=props["Name"],
        Configuration={"ResultConfiguration": {"OutputLocation": result.get("OutputLocation", "")}, "EnforceWorkGroupConfiguration": bool(configuration.get("EnforceWorkGroupConfiguration", True))},
    )
    return Resource(logical_id, "AWS::Athena::WorkGroup", props["Name"])


# ---------------------------------------------------------------- IAM


def create_managed_policy(stack: StackContext, logical_id: str, properties: dict) -> Resource:
    props = stack.resolve(properties)
    iam = stack.client("iam")
    name = props.get("ManagedPolicyName") or stack.default_name(logical_id)
    arn = iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(props["PolicyDocument"]), Description=props.get("Description", ""))["Policy"]["Arn"]
    for role in props.get("Roles", []):
        # The role is the platform's, outside the stack; the local stack makes the one it names (LocalStack._role_sessions).
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    stack.deviate(f"{logical_id}: created and attached in moto's IAM, but not evaluated (moto server allows every call)")
    return Resource(logical_id, "AWS::IAM::ManagedPolicy", arn)


CREATORS: dict[str, Creator] = {
    "AWS::SQS::Queue": create_queue,
    "AWS::SQS::QueuePolicy": create_queue_policy,
    "AWS::S3::Bucket": create_bucket,
    "AWS::S3::BucketPolicy": create_bucket_policy,
    "AWS::DynamoDB::Table": create_table,
    "AWS::SNS::Topic": create_topic,
    "AWS::SNS::Subscription": create_subscription,
    "AWS::SNS::TopicPolicy": create_topic_policy,
    "AWS::KMS::Key": create_key,
    "AWS::IAM::ManagedPolicy": create_managed_policy,
    "AWS::CloudWatch::Alarm": create_alarm,
    "AWS::SecretsManager::Secret": create_secret,
    "AWS::Glue::Database": create_glue_database,
    "AWS::Glue::Table": create_glue_table,
    "AWS::Athena::WorkGroup": create_athena_workgroup,
    "AWS::IAM::ManagedPolicy": create_managed_policy,
}
