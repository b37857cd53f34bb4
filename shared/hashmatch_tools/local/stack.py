"""A local AWS for the pipeline: moto's server on 127.0.0.1, with the resources template.yaml declares.

The resources come from the template itself (one list, not a second one kept by hand): buckets
with their notifications, queues with their redrive policies, tables, the topic and its
subscriptions. Functions are not run by moto (that needs Docker); LocalRunner (runner.py)
calls their handlers. boto3 reaches the server through AWS_ENDPOINT_URL, exactly as the
handlers' clients reach AWS in production.

Where the local copy differs from AWS it says so in LocalStack.deviations.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from cfnlint.decode import cfn_yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = REPO_ROOT / "template.yaml"
ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_REGION = "eu-west-1"
# Failed messages come back after this many seconds locally, instead of the template's
# minutes (sized for Lambda timeouts), so retries and dead-lettering happen within a test.
LOCAL_VISIBILITY_TIMEOUT = 2
# Another account, for callers from outside (a partner's role).
PARTNER_ACCOUNT_ID = "210987654321"
# The role whose sessions see labels in the local stack's lookup API (LookupLabelsRoleNames).
LABELS_READER_ROLE = "hashmatch-labels-reader"
# The role whose sessions may restore uploads through RestoreUploadFunctionUrl (RestoreRoleName).
RESTORER_ROLE = "hashmatch-restorer"


@dataclass(frozen=True)
class LocalIdentity:
    """An IAM identity the local function URLs accept: requests signed with its keys are its (IAM's part, locally)."""

    name: str
    access_key: str
    secret_key: str
    arn: str
    user_id: str  # what IAM reports as callerId/userId: AIDA... for a user, AROA...:session for a role session

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]


# The keys the stack's own environment exports (AWS_ACCESS_KEY_ID=testing) are the operator's, an
# IAM user; the others are role sessions, as partners call the API.
LOCAL_IDENTITIES = (
    LocalIdentity("operator", "testing", "testing", f"arn:aws:iam::{ACCOUNT_ID}:user/local-operator", "AIDALOCALOPERATOR0001"),
    LocalIdentity("labels-reader", "ASIALOCALLABELSREADER", "labels-reader-secret", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{LABELS_READER_ROLE}/local", "AROALOCALLABELSREADER:local"),
    LocalIdentity("partner", "ASIALOCALPARTNER0001", "partner-secret", f"arn:aws:sts::{PARTNER_ACCOUNT_ID}:assumed-role/hashmatch-partner/local", "AROALOCALPARTNER0001:local"),
    # A role of another account that took the labels role's name: it must not see labels.
    LocalIdentity("impostor", "ASIALOCALIMPOSTOR001", "impostor-secret", f"arn:aws:sts::{PARTNER_ACCOUNT_ID}:assumed-role/{LABELS_READER_ROLE}/local", "AROALOCALIMPOSTOR001:local"),
    # An operator who assumed the restore role (hashmatch admin restore signs as this).
    LocalIdentity("restorer", "ASIALOCALRESTORER001", "restorer-secret", f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{RESTORER_ROLE}/local", "AROALOCALRESTORER001:local"),
)
# The local stack's own parameter values (a caller's parameters= win): its labels reader sees labels,
# its restorer restores, and retro-match runs its SQL on DuckDB (moto's Athena answers without running anything).
LOCAL_PARAMETERS = {"LookupLabelsRoleNames": LABELS_READER_ROLE, "RestoreRoleName": RESTORER_ROLE, "RetroMatchEngine": "duckdb"}


# ---------------------------------------------------------------- the template

# What Ref AWS::NoValue resolves to: the property or list item that holds it is left out.
_NO_VALUE = object()


def load_template(path: Path | str = TEMPLATE) -> dict:
    """template.yaml as plain data, CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) in their long forms (cfn-lint's decoder)."""
    return json.loads(json.dumps(cfn_yaml.load(str(path))))


def function_properties(template: dict, logical_id: str) -> dict:
    """A SAM function's properties with the Globals applied (environment maps merged, function wins)."""
    defaults = template.get("Globals", {}).get("Function", {})
    own = template["Resources"][logical_id]["Properties"]
    merged = {**defaults, **own}
    variables = {**defaults.get("Environment", {}).get("Variables", {}), **own.get("Environment", {}).get("Variables", {})}
    merged["Environment"] = {"Variables": variables}
    return merged


# ---------------------------------------------------------------- the moto server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _end_with_parent() -> None:
    """In the child: have Linux send SIGTERM when the parent dies, so no server outlives its stack."""
    import ctypes
    import signal

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class MotoServer:
    """moto's server mode in a child process: real HTTP on 127.0.0.1, its own interpreter and GIL."""

    def __init__(self, port: int | None = None, log_path: Path | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"hashmatch-moto-{self.port}.log"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "MotoServer":
        log = open(self.log_path, "wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_end_with_parent if sys.platform == "linux" else None,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


# ---------------------------------------------------------------- the stack


@dataclass
class Resource:
    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventSource:
    """An SQS event source mapping as SAM declares it."""

    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class StreamSource:
    """A DynamoDB stream event source mapping as SAM declares it."""

    stream_arn: str
    batch_size: int
    starting_position: str
    maximum_retry_attempts: int
    on_failure_queue_url: str | None


@dataclass(frozen=True)
class FunctionUrl:
    """A function URL (SAM's FunctionUrlConfig): where the runner serves it locally, and how callers authenticate."""

    url: str  # http://127.0.0.1:<port>/, with the trailing slash AWS's URLs have
    port: int
    auth_type: str  # AWS_IAM or NONE


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout: int
    memory_size: int
    event_sources: tuple[EventSource, ...]
    stream_sources: tuple[StreamSource, ...] = ()
    function_url: FunctionUrl | None = None


class LocalStack:
    """moto's server plus every resource of template.yaml, created in dependency order."""

    def __init__(
        self,
        template_path: Path | str = TEMPLATE,
        *,
        parameters: dict[str, str] | None = None,
        region: str = DEFAULT_REGION,
        stack_name: str = "hashmatch-local",
        visibility_timeout: int | None = LOCAL_VISIBILITY_TIMEOUT,
        server: MotoServer | None = None,
    ):
        self.template_path = Path(template_path)
        self.template = load_template(self.template_path)
        self.region = region
        self.stack_name = stack_name
        self.visibility_timeout = visibility_timeout
        declared = self.template.get("Parameters", {})
        self.parameters = self._parameters({**{k: v for k, v in LOCAL_PARAMETERS.items() if k in declared}, **(parameters or {})})
        self.identities = LOCAL_IDENTITIES
        self.server = server or MotoServer()
        self.resources: dict[str, Resource] = {}
        # What SAM adds to the template (a function URL's AWS::Lambda::Url, <Function>Url): referable, not the template's own.
        self.generated: dict[str, Resource] = {}
        self.functions: dict[str, FunctionSpec] = {}
        self.deviations: list[str] = []
        self.permissions: list[dict] = []  # the AWS::Lambda::Permission resources' properties, resolved
        self._creating: set[str] = set()
        self._environment_patch: Any = None

    # ------------------------------------------------------------ lifecycle

    @property
    def endpoint_url(self) -> str:
        return self.server.url

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs for boto3 to talk to this stack (and Powertools not to trace)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "POWERTOOLS_TRACE_DISABLED": "1",
        }

    def start(self) -> "LocalStack":
        """Start the server, point this process's boto3 at it, and create the template's resources."""
        self.server.start()
        try:
            self._environment_patch = mock.patch.dict(os.environ, self.environment)
            self._environment_patch.start()
            for logical_id in self.template["Resources"]:
                self._ensure(logical_id)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.server.stop()
        if self._environment_patch is not None:
            self._environment_patch.stop()
            self._environment_patch = None

    def __enter__(self) -> "LocalStack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id="testing", aws_secret_access_key="testing")

    def table(self, logical_id: str):
        import boto3

        resource = boto3.resource("dynamodb", endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id="testing", aws_secret_access_key="testing")
        return resource.Table(self.ref(logical_id))

    # ------------------------------------------------------------ lookups

    def ref(self, logical_id: str) -> str:
        return self._ensure(logical_id).physical_id

    def attribute(self, logical_id: str, name: str) -> str:
        resource = self._ensure(logical_id)
        try:
            return resource.attributes[name]
        except KeyError:
            raise KeyError(f"{logical_id} ({resource.type}) has no attribute {name} locally") from None

    def output(self, name: str) -> str:
        return str(self.resolve(self.template["Outputs"][name]["Value"]))

    def subscribe_queue(self, topic_logical_id: str, name: str, filter_policy: dict | None = None) -> str:
        """A queue subscribed to a topic of the stack (for watching messages); returns its URL."""
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        self.client("sns").subscribe(TopicArn=self.ref(topic_logical_id), Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return url

    # ------------------------------------------------------------ intrinsic functions

    def _parameters(self, overrides: dict[str, str]) -> dict[str, str]:
        declared = self.template.get("Parameters", {})
        unknown = set(overrides) - set(declared)
        if unknown:
            raise KeyError(f"template.yaml declares no parameter {', '.join(sorted(unknown))}")
        values = {}
        for name, spec in declared.items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise KeyError(f"parameter {name} has no default: pass it in parameters=")
        return values

    def _pseudo(self, name: str) -> str:
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        return pseudo[name]

    def _ref_value(self, name: str) -> str:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        return self.ref(name)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1:
                (key, argument), = value.items()
                if key == "Ref":
                    return self._ref_value(argument)
                if key == "Fn::GetAtt":
                    logical_id, name = argument if isinstance(argument, list) else argument.split(".", 1)
                    return self.attribute(logical_id, name)
                if key == "Fn::Sub":
                    return self._sub(argument)
                if key == "Fn::Join":
                    separator, items = argument
                    return separator.join(str(self.resolve(item)) for item in self.resolve(items))
                if key == "Fn::Select":
                    position, items = argument
                    return self.resolve(items)[int(self.resolve(position))]
                if key == "Fn::If":
                    condition, when_true, when_false = argument
                    return self.resolve(when_true if self.condition(condition) else when_false)
                if key == "Fn::Equals":
                    first, second = argument
                    return str(self.resolve(first)) == str(self.resolve(second))
                if key == "Fn::Not":
                    [condition] = argument
                    return not self.resolve(condition)
                if key == "Condition":
                    return self.condition(argument)
                if key.startswith("Fn::"):
                    raise NotImplementedError(f"the local stack does not evaluate {key}")
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(value, list):
            return [item for item in (self.resolve(item) for item in value) if item is not _NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """A condition of the template's Conditions section, evaluated with this stack's parameters."""
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return str(self.attribute(logical_id, attribute))
            return str(self._ref_value(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    # ------------------------------------------------------------ resources

    def identity(self, name: str) -> LocalIdentity:
        """One of the local IAM identities (operator, labels-reader, partner, impostor, restorer)."""
        return next(identity for identity in self.identities if identity.name == name)

    def _ensure(self, logical_id: str) -> Resource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id in self.generated:
            return self.generated[logical_id]
        # What SAM generates for a function and a template may name: its role (<Function>Role) and URL (<Function>Url).
        for suffix in ("Role", "Url"):
            function_id = logical_id.removesuffix(suffix)
            if logical_id not in self.template["Resources"] and self.template["Resources"].get(function_id, {}).get("Type") == "AWS::Serverless::Function":
                self._ensure(function_id)
                if logical_id in self.generated:
                    return self.generated[logical_id]
        if logical_id in self._creating:
            raise RuntimeError(f"dependency cycle through {logical_id}")
        spec = self.template["Resources"].get(logical_id)
        if spec is None:
            raise KeyError(f"template.yaml has no resource {logical_id}")
        if "Condition" in spec and not self.condition(spec["Condition"]):
            # As CloudFormation does: a resource whose condition is false is not created.
            self.resources[logical_id] = Resource(logical_id, spec["Type"], "")
            return self.resources[logical_id]
        self._creating.add(logical_id)
        try:
            depends = spec.get("DependsOn", [])
            for dependency in [depends] if isinstance(depends, str) else depends:
                self._ensure(dependency)
            creator = self._CREATORS.get(spec["Type"])
            if creator is None:
                raise NotImplementedError(f"the local stack cannot create {spec['Type']} ({logical_id}): add it to stack.py")
            resource = creator(self, logical_id, spec.get("Properties", {}))
        finally:
            self._creating.discard(logical_id)
        self.resources[logical_id] = resource
        return resource

    def _default_name(self, logical_id: str) -> str:
        return f"{self.stack_name}-{logical_id}"

    def _create_queue(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props.get("QueueName") or self._default_name(logical_id)
        attributes = {}
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if self.visibility_timeout is not None:
            attributes["VisibilityTimeout"] = str(self.visibility_timeout)
        if "MessageRetentionPeriod" in props:
            attributes["MessageRetentionPeriod"] = str(props["MessageRetentionPeriod"])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        if "SqsManagedSseEnabled" in props:
            attributes["SqsManagedSseEnabled"] = str(props["SqsManagedSseEnabled"]).lower()
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Resource(logical_id, "AWS::SQS::Queue", url, {"Arn": arn, "QueueName": name, "QueueUrl": url})

    def _create_queue_policy(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        sqs = self.client("sqs")
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})
        self.deviations.append(f"{logical_id}: set, but moto does not enforce queue policies")
        return Resource(logical_id, "AWS::SQS::QueuePolicy", self._default_name(logical_id))

    def _create_bucket_policy(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        document = props["PolicyDocument"]
        # The local endpoint is plain HTTP on 127.0.0.1, and moto applies a policy's denials: a
        # TLS-only statement would refuse every local request, so it is left out here.
        # Every local function and test signs with the same credentials, so a denial scoped by the caller's
        # role (aws:PrincipalArn) would refuse all of them or none: it is left out too.
        tls = [statement for statement in document["Statement"] if "aws:SecureTransport" in json.dumps(statement.get("Condition", {}))]
        by_principal = [statement for statement in document["Statement"] if "aws:PrincipalArn" in json.dumps(statement.get("Condition", {}))]
        kept = [statement for statement in document["Statement"] if statement not in tls and statement not in by_principal]
        if kept:
            self.client("s3").put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps({**document, "Statement": kept}))
        for left_out, deviation in (
            (tls, "TLS-only bucket policies: not applied (the local endpoint is plain HTTP)"),
            (by_principal, "bucket policy statements scoped by the caller's role (aws:PrincipalArn): not applied (one local identity signs everything)"),
        ):
            if left_out and deviation not in self.deviations:
                self.deviations.append(deviation)
        return Resource(logical_id, "AWS::S3::BucketPolicy", self._default_name(logical_id))

    def _create_bucket(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props.get("BucketName") or self._default_name(logical_id).lower()
        s3 = self.client("s3")
        request: dict[str, Any] = {"Bucket": name}
        if self.region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
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
            self.deviations.append(f"{logical_id}: Object Lock enabled without the template's default retention (moto limitation)")
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

    def _create_table(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props.get("TableName") or self._default_name(logical_id)
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
        dynamodb = self.client("dynamodb")
        description = dynamodb.create_table(**request)["TableDescription"]
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            # moto keeps the setting but deletes nothing: expired items stay until the server stops.
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]})
        attributes = {"Arn": description["TableArn"]}
        if "LatestStreamArn" in description:
            attributes["StreamArn"] = description["LatestStreamArn"]
        return Resource(logical_id, "AWS::DynamoDB::Table", name, attributes)

    def _create_topic(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props.get("TopicName") or self._default_name(logical_id)
        attributes = {"KmsMasterKeyId": props["KmsMasterKeyId"]} if "KmsMasterKeyId" in props else {}
        arn = self.client("sns").create_topic(Name=name, Attributes=attributes)["TopicArn"]
        return Resource(logical_id, "AWS::SNS::Topic", arn, {"TopicArn": arn, "TopicName": name})

    def _create_subscription(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        attributes = {}
        if "FilterPolicy" in props:
            attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
        if "FilterPolicyScope" in props:
            attributes["FilterPolicyScope"] = props["FilterPolicyScope"]
        if "RawMessageDelivery" in props:
            attributes["RawMessageDelivery"] = str(props["RawMessageDelivery"]).lower()
        arn = self.client("sns").subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"], Attributes=attributes, ReturnSubscriptionArn=True
        )["SubscriptionArn"]
        return Resource(logical_id, "AWS::SNS::Subscription", arn)

    def _create_alarm(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props.get("AlarmName") or self._default_name(logical_id)
        request = {key: props[key] for key in ("AlarmDescription", "Namespace", "MetricName", "Statistic", "Period", "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions") if key in props}
        request["Dimensions"] = props.get("Dimensions", [])
        self.client("cloudwatch").put_metric_alarm(AlarmName=name, **request)
        deviation = "CloudWatch alarms: created, but moto does not evaluate them (no SQS metrics locally)"
        if deviation not in self.deviations:
            self.deviations.append(deviation)
        return Resource(logical_id, "AWS::CloudWatch::Alarm", name, {"Arn": f"arn:aws:cloudwatch:{self.region}:{ACCOUNT_ID}:alarm:{name}"})

    def _deviate(self, deviation: str) -> None:
        if deviation not in self.deviations:
            self.deviations.append(deviation)

    def _create_layer(self, logical_id: str, properties: dict) -> Resource:
        # Locally every function runs in this interpreter, whose venv stands in for the layers.
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:layer:{logical_id}:1"
        return Resource(logical_id, "AWS::Serverless::LayerVersion", arn, {"Arn": arn})

    def _create_function(self, logical_id: str, properties: dict) -> Resource:
        merged = function_properties(self.template, logical_id)
        environment = {name: str(value) for name, value in self.resolve(merged["Environment"]["Variables"]).items()}
        sources, streams = [], []
        for event_name, event in merged.get("Events", {}).items():
            event_props = event["Properties"]
            if event["Type"] == "DynamoDB":
                if not self.resolve(event_props.get("Enabled", True)):
                    continue
                destination = event_props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                destination_arn = self.resolve(destination) if destination else None
                streams.append(
                    StreamSource(
                        stream_arn=self.resolve(event_props["Stream"]),
                        batch_size=int(event_props.get("BatchSize", 100)),
                        starting_position=event_props.get("StartingPosition", "LATEST"),
                        maximum_retry_attempts=int(event_props.get("MaximumRetryAttempts", -1)),
                        on_failure_queue_url=next((r.physical_id for r in self.resources.values() if destination_arn and r.attributes.get("Arn") == destination_arn), None),
                    )
                )
                continue
            if event["Type"] != "SQS":
                raise NotImplementedError(f"{logical_id}.{event_name}: the local runner delivers SQS and DynamoDB stream events only")
            queue_arn = self.resolve(event_props["Queue"])
            queue_url = next(r.physical_id for r in self.resources.values() if r.attributes.get("Arn") == queue_arn)
            sources.append(
                EventSource(
                    queue_url=queue_url,
                    queue_arn=queue_arn,
                    batch_size=int(event_props.get("BatchSize", 10)),
                    report_batch_item_failures="ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", []),
                )
            )
        name = self._default_name(logical_id)
        handler = merged.get("Handler", "app.lambda_handler")
        arn = f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{name}"
        role = f"{name}-role"
        self.generated[f"{logical_id}Role"] = Resource(f"{logical_id}Role", "AWS::IAM::Role", role, {"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"})
        function_url = None
        if "FunctionUrlConfig" in merged:
            port = free_port()
            auth_type = merged["FunctionUrlConfig"].get("AuthType", "AWS_IAM")
            function_url = FunctionUrl(f"http://127.0.0.1:{port}/", port, auth_type)
            self.generated[f"{logical_id}Url"] = Resource(f"{logical_id}Url", "AWS::Lambda::Url", function_url.url, {"FunctionUrl": function_url.url, "FunctionArn": arn})
            self._deviate(
                "function URLs: served over plain HTTP on 127.0.0.1 by the runner (runner.serve_function_urls); AWS_IAM checks the SigV4 signature "
                "against the stack's local identities (stack.identities) instead of IAM, and grants every one of them (no lambda:InvokeFunctionUrl policy is read)"
            )
        if "ReservedConcurrentExecutions" in merged:
            self._deviate("ReservedConcurrentExecutions: not enforced (the runner calls handlers one at a time)")
        self.functions[logical_id] = FunctionSpec(
            logical_id=logical_id,
            name=name,
            code_dir=(self.template_path.parent / merged["CodeUri"]).resolve(),
            handler=handler,
            environment=environment,
            timeout=int(self.resolve(merged.get("Timeout", 3))),
            memory_size=int(self.resolve(merged.get("MemorySize", 128))),
            event_sources=tuple(sources),
            stream_sources=tuple(streams),
            function_url=function_url,
        )
        return Resource(logical_id, "AWS::Serverless::Function", name, {"Arn": arn})

    def _create_permission(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        self.permissions.append(props)
        self._deviate(
            "AWS::Lambda::Permission: kept in stack.permissions, not evaluated (every local identity may call every function URL); "
            "a function that checks its caller (RestoreUploadFunction) refuses the others itself, as it does in AWS"
        )
        return Resource(logical_id, "AWS::Lambda::Permission", self._default_name(logical_id))

    def _create_glue_database(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        name = props["DatabaseInput"]["Name"]
        self.client("glue").create_database(DatabaseInput={"Name": name, "Description": props["DatabaseInput"].get("Description", "")})
        return Resource(logical_id, "AWS::Glue::Database", name)

    def _create_glue_table(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        table = props["TableInput"]
        self.client("glue").create_table(DatabaseName=props["DatabaseName"], TableInput=table)
        self.deviations.append(f"{logical_id}: the Glue table exists in moto, but nothing queries it; retro-match runs its SQL on DuckDB over the same files (RetroMatchEngine=duckdb)")
        return Resource(logical_id, "AWS::Glue::Table", f"{props['DatabaseName']}|{table['Name']}")

    def _create_athena_workgroup(self, logical_id: str, properties: dict) -> Resource:
        props = self.resolve(properties)
        configuration = props.get("WorkGroupConfiguration", {})
        result = configuration.get("ResultConfiguration", {})
        self.client("athena").create_work_group(
            Name=props["Name"],
            Configuration={"ResultConfiguration": {"OutputLocation": result.get("OutputLocation", "")}, "EnforceWorkGroupConfiguration": bool(configuration.get("EnforceWorkGroupConfiguration", True))},
        )
        return Resource(logical_id, "AWS::Athena::WorkGroup", props["Name"])

    _CREATORS = {
        "AWS::SQS::Queue": _create_queue,
        "AWS::SQS::QueuePolicy": _create_queue_policy,
        "AWS::S3::Bucket": _create_bucket,
        "AWS::S3::BucketPolicy": _create_bucket_policy,
        "AWS::DynamoDB::Table": _create_table,
        "AWS::SNS::Topic": _create_topic,
        "AWS::SNS::Subscription": _create_subscription,
        "AWS::CloudWatch::Alarm": _create_alarm,
        "AWS::Serverless::LayerVersion": _create_layer,
        "AWS::Serverless::Function": _create_function,
        "AWS::Lambda::Permission": _create_permission,
        "AWS::Glue::Database": _create_glue_database,
        "AWS::Glue::Table": _create_glue_table,
        "AWS::Athena::WorkGroup": _create_athena_workgroup,
    }


def _encryption_rule(rule: dict) -> dict:
    """A CloudFormation bucket-encryption rule in the S3 API's shape."""
    converted = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    if "BucketKeyEnabled" in rule:
        converted["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
    return converted


def _lifecycle_rule(rule: dict) -> dict:
    """A CloudFormation lifecycle rule in the S3 API's shape."""
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        converted["NoncurrentVersionExpiration"] = {"NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return converted
