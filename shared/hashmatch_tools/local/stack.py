"""A local AWS for the pipeline: moto's server on 127.0.0.1, with the resources template.yaml declares.

The resources come from the template itself (one list, not a second one kept by hand): buckets
with their notifications, queues with their redrive policies, tables, the topic and its
subscriptions. LocalStack ties the parts together: the server (server.py), the template and its
intrinsic functions (template.py), and the creators of each resource type (resources.py; the
functions, layers and permissions in functions.py), called in dependency order as a property
names another resource. Functions are not run by moto (that needs Docker); LocalRunner
(runner.py) calls their handlers. boto3 reaches the server through AWS_ENDPOINT_URL, exactly as
the handlers' clients reach AWS in production.

moto's own CloudFormation (create_stack) cannot stand in for this: it does not expand the SAM
transform, and of the plain CloudFormation SAM makes of template.yaml it leaves out the policies,
subscriptions, alarms, Glue, Athena and function URLs, and the buckets' notifications.

Where the local copy differs from AWS it says so in LocalStack.deviations. What moto does not enforce of the
template's resource policies (queue, topic, key and bucket policies on writes), the policy gate in front of it does
(policy_gate.py): each function signs as its own role (stack.function_identities), each local identity as itself.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from unittest import mock

from hashmatch_tools.local.functions import FUNCTION_CREATORS, FunctionSpec
from hashmatch_tools.local.identities import LABELS_READER_ROLE, LOCAL_IDENTITIES, OPERATOR, OPERATOR_ROLE, RESTORER_ROLE, REVIEWER_ROLE, REVIEWER_SESSIONS, LocalIdentity, function_identity, role_sessions
from hashmatch_tools.local.resources import CREATORS, Resource
from hashmatch_tools.local.server import ACCOUNT_ID, MotoServer
from hashmatch_tools.local.template import TEMPLATE, Intrinsics, load_template, parameter_values

DEFAULT_REGION = "eu-west-1"
# Failed messages come back after this many seconds locally, instead of the template's
# minutes (sized for Lambda timeouts), so retries and dead-lettering happen within a test.
LOCAL_VISIBILITY_TIMEOUT = 2
# The local stack's own parameter values (a caller's parameters= win): its labels reader sees labels,
# its restorer restores, its reviewers review, its operator may redrive, reindex and sign, and retro-match runs its SQL on
# DuckDB (moto's Athena answers without running anything).
LOCAL_PARAMETERS = {"LookupLabelsRoleNames": LABELS_READER_ROLE, "RestoreRoleName": RESTORER_ROLE, "EvidenceReaderRoleName": REVIEWER_ROLE, "OperatorRoleName": OPERATOR_ROLE, "RetroMatchEngine": "duckdb"}
# How the local stack creates each resource type the template uses.
_CREATORS = {**CREATORS, **FUNCTION_CREATORS}


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
        self.parameters = parameter_values(self.template, {**{k: v for k, v in LOCAL_PARAMETERS.items() if k in declared}, **(parameters or {})})
        pseudo = {
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack_name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.intrinsics = Intrinsics(self.template, self.parameters, pseudo, ref=self.ref, attribute=self.attribute)
        self.identities = LOCAL_IDENTITIES
        self.function_identities: dict[str, LocalIdentity] = {}  # logical id -> its execution role's session
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
    def client_environment(self) -> dict[str, str]:
        """What a client process (boto3, the hashmatch commands) needs to reach this stack as the operator: endpoint, keys and region."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": OPERATOR.access_key,
            "AWS_SECRET_ACCESS_KEY": OPERATOR.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    @property
    def environment(self) -> dict[str, str]:
        """What this process and the handlers it runs need: the client environment, and Powertools not to trace."""
        return {**self.client_environment, "POWERTOOLS_TRACE_DISABLED": "1"}

    def start(self) -> "LocalStack":
        """Start the server, point this process's boto3 at it, and create the template's resources."""
        self.server.start()
        try:
            self.server.gate({"identities": {identity.access_key: identity.principal_arn for identity in self.identities}})
            self._environment_patch = mock.patch.dict(os.environ, self.environment)
            self._environment_patch.start()
            if self.parameters.get("EvidenceReaderRoleName"):
                self.identities = LOCAL_IDENTITIES + self._role_sessions(self.parameters["EvidenceReaderRoleName"], REVIEWER_SESSIONS)
                self.server.gate({"identities": {identity.access_key: identity.principal_arn for identity in self.identities}})
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

    def client(self, service: str, identity: str | LocalIdentity | None = None):
        """A client of the stack signing as the operator, or as `identity`: a local identity's name (intruder, restorer, ...), a
        function's logical id (its execution role), or a LocalIdentity."""
        import boto3

        signer = self._signer(identity)
        return boto3.client(
            service, endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id=signer.access_key, aws_secret_access_key=signer.secret_key, aws_session_token=signer.session_token
        )

    def _signer(self, identity: str | LocalIdentity | None) -> LocalIdentity:
        if identity is None:
            return OPERATOR
        if isinstance(identity, LocalIdentity):
            return identity
        if identity in self.template["Resources"]:
            self.function_role(identity)
            return self.function_identities[identity]
        return self.identity(identity)

    def refusals(self) -> list[dict]:
        """What the policy gate refused so far: who, which action on which resource, and the statement that denied it."""
        return self.server.refusals()

    def table(self, logical_id: str):
        import boto3

        resource = boto3.resource("dynamodb", endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id=OPERATOR.access_key, aws_secret_access_key=OPERATOR.secret_key)
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

    def outputs(self) -> dict[str, str]:
        """Every output of the template, by name, as `aws cloudformation describe-stacks` lists a deployed stack's."""
        return {name: self.output(name) for name in self.template.get("Outputs", {})}

    def resolve(self, value: Any) -> Any:
        """A template value with its intrinsic functions evaluated (template.Intrinsics), creating the resources it names."""
        return self.intrinsics.resolve(value)

    def condition(self, name: str) -> bool:
        """A condition of the template's Conditions section, evaluated with this stack's parameters."""
        return self.intrinsics.condition(name)

    def identity(self, name: str) -> LocalIdentity:
        """One of the local IAM identities (operator, labels-reader, partner, impostor, restorer; reviewer, second-reviewer)."""
        return next(identity for identity in self.identities if identity.name == name)

    def _role_sessions(self, role_name: str, sessions: tuple[str, ...]) -> tuple[LocalIdentity, ...]:
        """The role and its sessions in the server's IAM and STS (identities.role_sessions), with the deviation that says so."""
        made = role_sessions(self.client("iam"), self.client("sts"), role_name, sessions)
        self.deviate(f"the role {role_name} and its sessions ({', '.join(sessions)}) are made in moto's IAM and STS, which know their keys; IAM policies are not evaluated")
        return made

    def subscribe_queue(self, topic_logical_id: str, name: str, filter_policy: dict | None = None) -> str:
        """A queue subscribed to a topic of the stack (for watching messages); returns its URL."""
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
        self.client("sns").subscribe(TopicArn=self.ref(topic_logical_id), Protocol="sqs", Endpoint=arn, Attributes=attributes)
        return url

    # ------------------------------------------------------------ what the creators use (resources.StackContext)

    def default_name(self, logical_id: str) -> str:
        """The name CloudFormation would make up for a resource the template does not name (without its random suffix)."""
        return f"{self.stack_name}-{logical_id}"

    def enforce(self, owner: str, document: dict) -> None:
        """Have the policy gate apply a resource policy's denials to writes (owner: a queue's or topic's ARN, "s3:<bucket>")."""
        from hashmatch_tools.local.policy_gate import evaluable

        self.server.gate({"policies": [[owner, document]]})
        if not all(evaluable(statement) for statement in document.get("Statement", []) if statement.get("Effect") == "Deny"):
            self.deviate(f"{owner}: a statement whose conditions the policy gate cannot evaluate is not enforced")

    def enforce_key(self, owners: list[str], document: dict) -> None:
        """Have the policy gate let only the principals a key policy names sign and verify with the key."""
        self.server.gate({"key_policies": [[owners, document]]})

    def function_role(self, function_id: str) -> Resource:
        """The execution role SAM makes for a function (<Function>Role), and its session's identity, registered with the policy gate."""
        logical_id = f"{function_id}Role"
        if logical_id not in self.generated:
            role = f"{self.default_name(function_id)}-role"
            role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"
            self.generated[logical_id] = Resource(logical_id, "AWS::IAM::Role", role, {"Arn": role_arn})
            identity = function_identity(function_id, role_arn)
            self.function_identities[function_id] = identity
            self.server.gate({"identities": {identity.access_key: identity.principal_arn}})
        return self.generated[logical_id]

    def deviate(self, deviation: str) -> None:
        """Record one way the local stack differs from AWS (once)."""
        if deviation not in self.deviations:
            self.deviations.append(deviation)

    # ------------------------------------------------------------ creating resources

    def _ensure(self, logical_id: str) -> Resource:
        if logical_id in self.resources:
            return self.resources[logical_id]
        if logical_id in self.generated:
            return self.generated[logical_id]
        # What SAM generates for a function and a template may name: its role (<Function>Role) and URL (<Function>Url).
        # A role is made on its own, as CloudFormation makes it before the function: a key policy naming the role
        # and the function's environment naming the key are no cycle.
        for suffix in ("Role", "Url"):
            function_id = logical_id.removesuffix(suffix)
            if logical_id not in self.template["Resources"] and self.template["Resources"].get(function_id, {}).get("Type") == "AWS::Serverless::Function":
                if suffix == "Role":
                    return self.function_role(function_id)
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
            creator = _CREATORS.get(spec["Type"])
            if creator is None:
                raise NotImplementedError(f"the local stack cannot create {spec['Type']} ({logical_id}): add a creator to resources.py or functions.py")
            resource = creator(self, logical_id, spec.get("Properties", {}))
        finally:
            self._creating.discard(logical_id)
        self.resources[logical_id] = resource
        return resource
