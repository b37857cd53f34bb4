"""Lambda function URLs, locally: an HTTP server per URL that authenticates the request as AWS_IAM does and calls the handler.

What AWS does in front of a function URL, in small: with AuthType AWS_IAM a request must carry a
SigV4 signature (service "lambda", the stack's region) made with the keys of a known identity,
within five minutes of now, else 403 {"Message":"Forbidden"} and the function is not called.
A good request becomes the payload-2.0 event (requestContext.authorizer.iam naming the caller),
and the handler's answer ({"statusCode", "headers", "body", ...}) becomes the HTTP response;
a handler that raises is a 502. IAM policies are not evaluated: every local identity may call.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Mapping
from urllib.parse import parse_qsl

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hashmatch_tools.local.functions import FunctionSpec
from hashmatch_tools.local.identities import LocalIdentity
from hashmatch_tools.local.server import ACCOUNT_ID

SERVICE = "lambda"
MAX_CLOCK_SKEW_SECONDS = 300  # what SigV4 allows
MAX_BODY_BYTES = 6 * 1024 * 1024  # Lambda's synchronous payload limit
_AUTHORIZATION = re.compile(r"AWS4-HMAC-SHA256 Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})")
# Bodies Lambda passes as text; others arrive base64-encoded (isBase64Encoded).
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|xml|javascript|x-www-form-urlencoded)|.*\+(json|xml))(;.*)?$", re.IGNORECASE)


class Forbidden(Exception):
    """The request does not authenticate (the reason is logged locally; AWS tells the caller only "Forbidden")."""


def authenticate(
    method: str,
    host: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    identities: Iterable[LocalIdentity],
    region: str,
    now: float | None = None,
) -> LocalIdentity:
    """The identity whose keys signed this request (SigV4, header form); Forbidden otherwise.

    `headers` lowercased names; `target` the path with its query string, as the request line has it.
    """
    found = _AUTHORIZATION.fullmatch(headers.get("authorization", "").strip())
    if not found:
        raise Forbidden("no SigV4 Authorization header")
    access_key, _, scope = found["credential"].partition("/")
    day, scope_region, service, terminal = (scope.split("/") + ["", "", "", ""])[:4]
    if (scope_region, service, terminal) != (region, SERVICE, "aws4_request"):
        raise Forbidden(f"credential scope {scope!r} is not <day>/{region}/{SERVICE}/aws4_request")
    identity = next((known for known in identities if known.access_key == access_key), None)
    if identity is None:
        raise Forbidden(f"unknown access key {access_key!r}")
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        raise Forbidden("no valid X-Amz-Date header") from None
    if abs((time.time() if now is None else now) - signed_at) > MAX_CLOCK_SKEW_SECONDS or stamp[:8] != day:
        raise Forbidden("the signature's time is more than five minutes off, or not its scope's day")
    signed = found["signed"].split(";")
    if "host" not in signed or "x-amz-date" not in signed:
        raise Forbidden("host and x-amz-date must be signed")
    missing = [name for name in signed if name not in headers and name != "host"]
    if missing:
        raise Forbidden(f"signed header(s) not sent: {', '.join(missing)}")
    declared_checksum = headers.get("x-amz-content-sha256")
    if declared_checksum is not None and declared_checksum != hashlib.sha256(body).hexdigest():
        raise Forbidden("x-amz-content-sha256 is not the body's")
    request = AWSRequest(method=method, url=f"http://{host}{target}", data=body, headers={name: (host if name == "host" else headers[name]) for name in signed})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(identity.access_key, identity.secret_key), SERVICE, region)
    if signer.signed_headers(signer.headers_to_sign(request)) != found["signed"]:
        raise Forbidden("the signed headers cannot be reproduced (a header SigV4 leaves out was signed)")
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise Forbidden("signature does not match")
    return identity


def function_url_event(method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str, identity: LocalIdentity | None, url_id: str) -> dict:
    """The payload-2.0 event Lambda gives a function behind a URL (`headers` lowercased)."""
    path, _, query = target.partition("?")
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    as_text = not body or bool(_TEXT_TYPES.match(headers.get("content-type", "")))
    now = datetime.now(timezone.utc)
    context = {
        "accountId": ACCOUNT_ID,
        "apiId": url_id,
        "domainName": headers.get("host", ""),
        "domainPrefix": url_id,
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": headers.get("user-agent", "")},
        "requestId": str(uuid.uuid4()),
        "routeKey": "$default",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if identity is not None:
        context["authorizer"] = {
            "iam": {
                "accessKey": identity.access_key,
                "accountId": identity.account,
                "callerId": identity.user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": identity.arn,
                "userId": identity.user_id,
            }
        }
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {name: value for name, value in headers.items() if name != "cookie"},
        "requestContext": context,
        "isBase64Encoded": not as_text,
    }
    if "cookie" in headers:
        event["cookies"] = [cookie.strip() for cookie in headers["cookie"].split(";")]
    if parameters:
        event["queryStringParameters"] = parameters
    if body:
        event["body"] = body.decode("utf-8") if as_text else base64.b64encode(body).decode("ascii")
    return event


def http_response(result) -> tuple[int, dict[str, str], list[str], bytes]:
    """A handler's result as Lambda turns it into a response: status, headers, cookies, body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # Anything else is the body, as JSON, with 200.
        return 200, {"Content-Type": "application/json"}, [], json.dumps(result).encode()
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(result["statusCode"]), {str(k): str(v) for k, v in (result.get("headers") or {}).items()}, list(result.get("cookies") or []), data


class FunctionUrlServer:
    """One function URL on 127.0.0.1: every request authenticated (AWS_IAM) and handed to `invoke` as Lambda would."""

    def __init__(self, spec: FunctionSpec, invoke: Callable[[str, dict], object], identities: Iterable[LocalIdentity], region: str):
        if spec.function_url is None:
            raise ValueError(f"{spec.logical_id} has no FunctionUrlConfig")
        self.spec = spec
        self.url = spec.function_url.url
        self.invoke = invoke
        self.identities = tuple(identities)
        self.region = region
        self.refused: list[str] = []  # why requests got 403 (AWS does not say; locally it helps)
        self._server = ThreadingHTTPServer(("127.0.0.1", spec.function_url.port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def start(self) -> "FunctionUrlServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"function-url-{self.spec.logical_id}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> tuple[int, dict[str, str], list[str], bytes]:
        identity = None
        if self.spec.function_url.auth_type == "AWS_IAM":
            try:
                identity = authenticate(method, headers.get("host", ""), target, headers, body, self.identities, self.region)
            except Forbidden as refused:
                self.refused.append(str(refused))
                return 403, {"Content-Type": "application/json"}, [], b'{"Message":"Forbidden"}'
        event = function_url_event(method, target, headers, body, source_ip, identity, self.spec.name.lower())
        try:
            result = self.invoke(self.spec.logical_id, event)
        except Exception:  # the function failed: Lambda answers 502 and logs it
            return 502, {"Content-Type": "application/json"}, [], b'{"Message":"Internal Server Error"}'
        return http_response(result)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY_BYTES:
                    self._send(413, {"Content-Type": "application/json"}, [], b'{"Message":"Request must be smaller than 6291456 bytes for the InvokeFunction operation"}')
                    return
                body = self.rfile.read(length) if length else b""
                headers: dict[str, str] = {}
                for name, value in self.headers.items():
                    name = name.lower()
                    headers[name] = f"{headers[name]},{value}" if name in headers else value
                self._send(*server.answer(self.command, self.path, headers, body, self.client_address[0]))

            def _send(self, status: int, headers: dict[str, str], cookies: list[str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                for cookie in cookies:
                    self.send_header("Set-Cookie", cookie)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _any

            def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
                pass

        return Handler
