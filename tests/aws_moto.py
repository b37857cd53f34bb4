"""moto's in-process AWS (`mock_aws`) for the unit tests of the aws/ adapters: real boto3 clients, and the buckets and tables as template.yaml defines them.

A bucket gets the template's versioning and Object Lock (without its default retention: see
template_bucket); a table gets the template's key schema. What the template says beyond that
(encryption, lifecycle, logging, public access blocks, streams) changes nothing an adapter's unit
test reads back, and the functional tier deploys the whole template on moto's server.

Two things the tests arrange with botocore's own event hooks on a real client (moto still answers every call):
  - `CallLog`: the calls a client made, in order, for tests of what an adapter asks for (how
    often it reads, which condition or range it sends);
  - `page_size`: scans and queries answer a few items a page (DynamoDB's page is 1 MB), so a
    caller that reads one page only misses the rest with a handful of items.
The faults moto cannot produce are in tests/aws_fakes.py.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import boto3

from hashmatch_tools.local.template import load_template

REGION = "eu-west-1"
ROOT = Path(__file__).resolve().parents[1]

# One session for every client: a session loads each service's model once, which keeps a client's creation to milliseconds.
_SESSION = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@cache
def _template() -> dict:
    return load_template(ROOT / "template.yaml")


def _resource(logical_id: str, kind: str) -> dict:
    resource = _template()["Resources"][logical_id]
    if resource["Type"] != kind:
        raise ValueError(f"{logical_id} is a {resource['Type']} in template.yaml, not a {kind}")
    return resource.get("Properties", {})


def s3_client():
    """A boto3 S3 client; inside mock_aws, moto answers it."""
    return _SESSION.client("s3")


def s3_client_of_a_user_without_permissions():
    """An S3 client of a new IAM user that no policy allows anything: inside moto.core.enable_iam_authentication,
    moto checks its calls against IAM and refuses them (AccessDenied, 403), as AWS does."""
    iam = _SESSION.client("iam")
    iam.create_user(UserName="no-permissions")
    key = iam.create_access_key(UserName="no-permissions")["AccessKey"]
    return boto3.session.Session(aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION).client("s3")


def template_bucket(s3, logical_id: str, name: str) -> str:
    """Create bucket `name` as template.yaml defines `logical_id`: its versioning, and Object Lock where it has it.

    Object Lock is enabled without the template's default retention, as the local stack does it
    (hashmatch_tools.local.resources): with one, moto 5.2.5 refuses a CopyObject into the bucket unless the
    request carries Content-MD5 or x-amz-sdk-checksum-algorithm, and a copy carries neither (botocore
    sends the copy's ChecksumAlgorithm as x-amz-checksum-algorithm).
    """
    properties = _resource(logical_id, "AWS::S3::Bucket")
    locked = bool(properties.get("ObjectLockEnabled"))
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION}, ObjectLockEnabledForBucket=locked)
    if properties.get("VersioningConfiguration", {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    if locked:
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    return name


def template_table(logical_id: str, name: str):
    """Create table `name` as template.yaml defines `logical_id` (its key schema and attribute types); a boto3 Table resource."""
    properties = _resource(logical_id, "AWS::DynamoDB::Table")
    return _SESSION.resource("dynamodb").create_table(
        TableName=name,
        KeySchema=properties["KeySchema"],
        AttributeDefinitions=properties["AttributeDefinitions"],
        BillingMode=properties.get("BillingMode", "PAY_PER_REQUEST"),
    )


def sqs_client():
    """A boto3 SQS client; inside mock_aws, moto answers it."""
    return _SESSION.client("sqs")


def template_queue(sqs, logical_id: str, name: str) -> str:
    """Create queue `name` with the visibility timeout template.yaml gives `logical_id` (what a message received and not
    deleted does next depends on it); its URL. The dead-letter queue is the functional tier's, which deploys the template."""
    properties = _resource(logical_id, "AWS::SQS::Queue")
    attributes = {"VisibilityTimeout": str(properties["VisibilityTimeout"])} if "VisibilityTimeout" in properties else {}
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def template_key(logical_id: str) -> str:
    """Create a KMS key as template.yaml defines `logical_id` (its spec and usage; moto reads no key policy); its ARN."""
    properties = _resource(logical_id, "AWS::KMS::Key")
    return _SESSION.client("kms").create_key(KeySpec=properties["KeySpec"], KeyUsage=properties["KeyUsage"])["KeyMetadata"]["Arn"]


def kms_client():
    return _SESSION.client("kms")


def page_size(table, items: int):
    """Make the table's scans and queries answer `items` items a page unless the caller asks for its own Limit."""

    def small_pages(params, **_):
        if params.get("TableName") == table.name:
            params.setdefault("Limit", items)

    for operation in ("Scan", "Query"):
        # Before the parameters are built, not when the caller's are provided: the resource copies those first.
        table.meta.client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", small_pages)
    return table


def all_items(table) -> list[dict]:
    """Every item of the table, as the resource returns them (in pages of its own size: page_size is for the code under test)."""
    found, request = [], {}
    while True:
        page = table.scan(ConsistentRead=True, Limit=1000, **request)
        found.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return found
        request = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


def current_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    """The keys under `prefix` that hold an object now (not a delete marker), sorted."""
    return sorted(item["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix) for item in page.get("Contents", []))


def versions(s3, bucket: str, key: str) -> list[str]:
    """The ids of the versions of `key` that hold an object (delete markers left out), oldest first (S3 lists them newest first)."""
    newest_first = [version["VersionId"] for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key) for version in page.get("Versions", []) if version["Key"] == key]
    return newest_first[::-1]


class CallLog:
    """The calls a boto3 client makes, in order, as (operation name, parameters as the caller gave them)."""

    def __init__(self, client):
        self.calls: list[tuple[str, dict]] = []
        client.meta.events.register("provide-client-params.*.*", self._record)

    def _record(self, params, model, **_):
        self.calls.append((model.name, dict(params)))

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]

    def of(self, operation: str) -> list[dict]:
        """The parameters of each call of `operation`."""
        return [params for name, params in self.calls if name == operation]

    def clear(self) -> None:
        self.calls.clear()
