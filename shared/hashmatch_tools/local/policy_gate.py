"""The local stack's policy gate: the template's resource policies enforced on writes, where moto enforces none of them.

moto's server accepts any signature and evaluates no queue, topic or key policy, and of a bucket policy only
statements without conditions on the caller. So the local endpoint is moto behind this WSGI middleware, which
knows who signed each request (the access key in its SigV4 credential, mapped to the local identity's principal:
for a role session, its role's ARN, as aws:PrincipalArn is) and applies, to the writes that matter, the
policies the stack registered from template.yaml:

- Deny statements of queue policies (sqs:SendMessage), topic policies (sns:Publish) and bucket policies
  (object writes and deletes, tagging, retention, legal holds; a bucket's versioning, lifecycle, lock and policy);
- a key policy's grants of kms:Sign and kms:Verify: only principals it names may use the key for them (the
  account's root, which hands the decision to IAM, is taken as granting every local identity).

Conditions on aws:PrincipalArn, aws:PrincipalAccount, aws:SourceArn and aws:SourceAccount are evaluated with
IAM's operators (String*, Arn*, Bool, Null, and their IfExists forms); a request a client sends carries no
aws:SourceArn (only a service's delivery would, and SNS delivers to SQS inside moto, past the gate). A refused
request is answered as AWS answers AccessDenied, and recorded (GET /_hashmatch/gate/refusals), as CloudTrail
records it. Reads are not gated (the evidence bucket's read restriction is a deviation the stack states).
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import threading
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs, unquote, urlparse
from xml.etree import ElementTree  # nosec B405: parses the local client's own DeleteObjects request bodies, never untrusted input

CONTROL_PATH = "/_hashmatch/gate"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/")
_OPERATORS = {"StringEquals", "StringNotEquals", "StringLike", "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike", "Bool", "Null"}
CONTEXT_KEYS = {"aws:principalarn", "aws:principalaccount", "aws:sourcearn", "aws:sourceaccount"}


def principal_arn(arn: str) -> str:
    """aws:PrincipalArn of a caller: a role session's role ARN, else the caller's own ARN."""
    found = re.fullmatch(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+", arn)
    return f"arn:{found[1]}:iam::{found[2]}:role/{found[3]}" if found else arn


# ---------------------------------------------------------------- policy evaluation


def evaluable(statement: dict) -> bool:
    """Whether the gate can evaluate a statement's conditions (every operator and key known to it)."""
    for operator, keys in statement.get("Condition", {}).items():
        if operator.removesuffix("IfExists") not in _OPERATORS or any(key.lower() not in CONTEXT_KEYS for key in keys):
            return False
    return True


def _matches(patterns, value: str) -> bool:
    patterns = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatch.fnmatchcase(value.lower(), pattern.lower()) if "*" in pattern or "?" in pattern else value.lower() == pattern.lower() for pattern in patterns)


def _principal_matches(principal, caller: str | None) -> bool:
    if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
        return True
    named = principal.get("AWS", []) if isinstance(principal, dict) else []
    named = [named] if isinstance(named, str) else named
    account = caller.split(":")[4] if caller and caller.count(":") >= 5 else None
    return any(name == caller or (account and name == f"arn:aws:iam::{account}:root") for name in named)


def _condition_holds(operator: str, expected, actual: str | None) -> bool:
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    expected = [expected] if isinstance(expected, (str, bool)) else list(expected)
    expected = [str(value).lower() if isinstance(value, bool) else str(value) for value in expected]
    if operator == "Null":
        return (actual is None) == (expected[0].lower() == "true")
    negated = "Not" in operator
    if actual is None:
        return True if if_exists else negated
    if operator == "Bool":
        return actual.lower() in [value.lower() for value in expected]
    like = operator.endswith("Like") or operator.startswith("Arn")
    found = _matches(expected, actual) if like else actual in expected
    return not found if negated else found


def _conditions_hold(statement: dict, context: dict) -> bool:
    lowered = {key.lower(): value for key, value in context.items()}
    return all(_condition_holds(operator, expected, lowered.get(key.lower())) for operator, keys in statement.get("Condition", {}).items() for key, expected in keys.items())


def denying_statement(document: dict, action: str, resource: str, context: dict) -> dict | None:
    """The first Deny statement of a resource policy that applies to this action on this resource with this context."""
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Deny" or not evaluable(statement):
            continue
        if not _matches(statement.get("Action", []), action) or not _matches(statement.get("Resource", "*"), resource):
            continue
        if not _principal_matches(statement.get("Principal", "*"), context.get("aws:PrincipalArn")):
            continue
        if _conditions_hold(statement, context):
            return statement
    return None


def key_policy_grants(document: dict, action: str, context: dict) -> bool:
    """Whether a key policy grants the caller this action (an Allow naming its principal, or the account's root)."""
    for statement in document.get("Statement", []):
        if statement.get("Effect") == "Allow" and _matches(statement.get("Action", []), action) and _principal_matches(statement.get("Principal", {}), context.get("aws:PrincipalArn")):
            if evaluable(statement) and _conditions_hold(statement, context):
                return True
    return False


# ---------------------------------------------------------------- what a request asks


def _s3_actions(method: str, bucket: str, key: str, query: dict, headers: dict, body: bytes) -> list[tuple[str, str]]:
    """The S3 write actions (IAM names) a request asks, each with its resource ARN; [] for a read."""
    if key:
        resource = f"arn:aws:s3:::{bucket}/{key}"
        versioned = "versionId" in query
        if method == "PUT":
            for flag, action in (("tagging", "s3:PutObjectTagging"), ("retention", "s3:PutObjectRetention"), ("legal-hold", "s3:PutObjectLegalHold"), ("acl", "s3:PutObjectAcl")):
                if flag in query:
                    return [(action.replace("Object", "ObjectVersion") if versioned and flag == "tagging" else action, resource)]
            return [("s3:PutObject", resource)]
        if method == "POST" and ("uploads" in query or "uploadId" in query):
            return [("s3:PutObject", resource)]
        if method == "DELETE":
            if "uploadId" in query:
                return [("s3:AbortMultipartUpload", resource)]
            if "tagging" in query:
                return [("s3:DeleteObjectVersionTagging" if versioned else "s3:DeleteObjectTagging", resource)]
            asked = [("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", resource)]
            if headers.get("x-amz-bypass-governance-retention", "").lower() == "true":
                asked.append(("s3:BypassGovernanceRetention", resource))
            return asked
        return []
    resource = f"arn:aws:s3:::{bucket}"
    if method == "POST" and "delete" in query:
        asked = []
        for element in ElementTree.fromstring(body or b"<Delete/>").iter():  # nosec B314: the local client's own request body
            if element.tag.endswith("Object"):
                name = next((child.text for child in element if child.tag.endswith("Key")), "")
                version = next((child.text for child in element if child.tag.endswith("VersionId")), None)
                asked.append(("s3:DeleteObjectVersion" if version else "s3:DeleteObject", f"arn:aws:s3:::{bucket}/{name}"))
        if headers.get("x-amz-bypass-governance-retention", "").lower() == "true":
            asked.append(("s3:BypassGovernanceRetention", f"{resource}/*"))
        return asked
    if method == "PUT":
        for flag, action in (("versioning", "s3:PutBucketVersioning"), ("lifecycle", "s3:PutLifecycleConfiguration"), ("object-lock", "s3:PutBucketObjectLockConfiguration"), ("policy", "s3:PutBucketPolicy")):
            if flag in query:
                return [(action, resource)]
    return []


def asked_of(environ: dict, body: bytes, region: str, account: str) -> list[tuple[str, str, str]]:
    """The gated actions a request asks: (owner of the policy that rules it, IAM action, resource ARN)."""
    method = environ["REQUEST_METHOD"]
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    service = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = service[3] if service else ""
    if target.startswith("AmazonSQS.") or (service == "sqs" and b"Action=" in body):
        action = target.split(".", 1)[1] if target else parse_qs(body.decode(errors="replace")).get("Action", [""])[0]
        if action not in ("SendMessage", "SendMessageBatch"):
            return []
        fields = json.loads(body or b"{}") if target else {name: values[0] for name, values in parse_qs(body.decode()).items()}
        queue = urlparse(fields.get("QueueUrl", "")).path.strip("/").split("/")
        arn = f"arn:aws:sqs:{region}:{queue[0]}:{queue[-1]}" if len(queue) == 2 else ""
        return [(arn, "sqs:SendMessage", arn)]
    if service == "sns":
        fields = {name: values[0] for name, values in parse_qs(body.decode(errors="replace")).items()}
        if fields.get("Action") in ("Publish", "PublishBatch") and fields.get("TopicArn"):
            return [(fields["TopicArn"], "sns:Publish", fields["TopicArn"])]
        return []
    if target.startswith("TrentService."):
        action = target.split(".", 1)[1]
        if action not in ("Sign", "Verify"):
            return []
        key = json.loads(body or b"{}").get("KeyId", "")
        return [(f"kms:{key}", f"kms:{action}", key)]
    if service == "s3":
        path = unquote(environ.get("PATH_INFO", ""))
        bucket, _, key = path.lstrip("/").partition("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        headers = {name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")}
        return [(f"s3:{bucket}", action, resource) for action, resource in _s3_actions(method, bucket, key, query, headers, body)]
    return []


# ---------------------------------------------------------------- the middleware


class PolicyGate:
    """WSGI middleware in front of moto's server app: gated writes checked against the registered policies first."""

    def __init__(self, app, account: str):
        self.app = app
        self.account = account
        self.identities: dict[str, str] = {}  # access key -> principal ARN
        self.policies: dict[str, list[dict]] = {}  # owner ("arn:aws:sqs:...", "s3:<bucket>", "kms:<key id or ARN>") -> documents
        self.key_policies: dict[str, dict] = {}  # "kms:<key id or ARN>" -> key policy
        self.refusals: list[dict] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO", "").startswith(CONTROL_PATH):
            return self._control(environ, start_response)
        gated = self._gated(environ)
        if gated is None:
            return self.app(environ, start_response)
        body = b""
        if gated:
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            environ["wsgi.input"] = io.BytesIO(body)
        credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = credential[2] if credential else "us-east-1"
        caller = self.identities.get(credential[1]) if credential else None
        context = {"aws:PrincipalArn": caller, "aws:PrincipalAccount": caller.split(":")[4] if caller else None}
        for owner, action, resource in asked_of(environ, body, region, self.account):
            refusal = self._refusal(owner, action, resource, {key: value for key, value in context.items() if value is not None})
            if refusal is not None:
                with self._lock:
                    self.refusals.append({"at": datetime.now(timezone.utc).isoformat(), "principal": caller, "action": action, "resource": resource, **refusal})
                return _access_denied(environ, start_response, action, resource, caller)
        return self.app(environ, start_response)

    def _gated(self, environ) -> bool | None:
        """None when the request is certainly not a gated write (a GET, or a service the gate ignores); else whether its body is needed."""
        method = environ["REQUEST_METHOD"]
        if method in ("GET", "HEAD", "OPTIONS"):
            return None
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = credential[3] if credential else ""
        if target.startswith(("AmazonSQS.SendMessage", "TrentService.Sign", "TrentService.Verify")):
            return True
        if service in ("sqs", "sns") and not target:
            return True
        if service == "s3":
            # Only a DeleteObjects request's body names what it writes; object bodies are never read here.
            return "delete" in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True) and method == "POST"
        return None

    def _refusal(self, owner: str, action: str, resource: str, context: dict) -> dict | None:
        if action.startswith("kms:"):
            policy = self.key_policies.get(owner)
            if policy is not None and not key_policy_grants(policy, action, context):
                return {"why": "the key policy grants it no such use"}
            return None
        for document in self.policies.get(owner, []):
            statement = denying_statement(document, action, resource, context)
            if statement is not None:
                return {"why": "explicit deny", "statement": statement.get("Sid", "")}
        return None

    def _control(self, environ, start_response):
        path = environ["PATH_INFO"][len(CONTROL_PATH) :]
        if environ["REQUEST_METHOD"] == "GET" and path == "/refusals":
            with self._lock:
                return _json(start_response, self.refusals)
        registered = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)) or b"{}")
        with self._lock:
            self.identities.update(registered.get("identities", {}))
            for owner, document in registered.get("policies", []):
                self.policies.setdefault(owner, []).append(document)
            for owners, document in registered.get("key_policies", []):
                for owner in owners:
                    self.key_policies[owner] = document
        return _json(start_response, {"identities": len(self.identities), "policies": sum(map(len, self.policies.values())), "key_policies": len(self.key_policies)})


def _json(start_response, value) -> list[bytes]:
    body = json.dumps(value).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def _access_denied(environ, start_response, action: str, resource: str, caller: str | None) -> list[bytes]:
    """AccessDenied in the shape each service's clients read."""
    message = f"User: {caller or 'anonymous'} is not authorized to perform: {action} on resource: {resource} with an explicit deny in a resource-based policy"
    request_id = str(uuid.uuid4())
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("AmazonSQS."):
        body = json.dumps({"__type": "com.amazonaws.sqs#AccessDenied", "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", "AccessDenied;Sender")]
        status = "403 Forbidden"
    elif target.startswith("TrentService."):
        body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
        headers, status = [("Content-Type", "application/x-amz-json-1.1")], "400 Bad Request"
    elif action.startswith("s3:"):
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>".encode()
        headers, status = [("Content-Type", "application/xml")], "403 Forbidden"
    else:
        code = "AuthorizationError" if action.startswith("sns:") else "AccessDenied"
        body = f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>".encode()
        headers, status = [("Content-Type", "text/xml")], "403 Forbidden"
    start_response(status, [*headers, ("Content-Length", str(len(body))), ("x-amzn-RequestId", request_id)])
    return [body]
