"""Function URL calls (payload 2.0, IAM auth) through Powertools' LambdaFunctionUrlResolver: who signed, and JSON answers."""

from __future__ import annotations

import json

from aws_lambda_powertools.event_handler import LambdaFunctionUrlResolver, Response

from hashmatch.callers import Caller


class NotAFunctionUrlCall(PermissionError):
    """A direct invocation (no function URL request context): refused, since only a signed URL call names its requester."""


def is_function_url_call(event) -> bool:
    return isinstance(event, dict) and isinstance(event.get("requestContext"), dict) and "http" in event["requestContext"]


def caller_of(app: LambdaFunctionUrlResolver) -> Caller | None:
    """The IAM identity the function URL authenticated; None when there is none (not AWS_IAM, or a test event)."""
    iam = (app.current_event.request_context.get("authorizer") or {}).get("iam") or {}
    try:
        return Caller.from_arn(iam.get("userArn") or "")
    except ValueError:
        return None


def answer(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body, separators=(",", ":"), default=str), headers=headers or {})


def json_resolver(what: str, log) -> LambdaFunctionUrlResolver:
    """A resolver whose one route is POST (any path); other methods are answered 405, a failure 500 with the request id to quote."""
    app = LambdaFunctionUrlResolver()

    @app.route(".+", method=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
    def not_allowed():
        return answer(405, {"error": "method not allowed", "reason": f"POST a JSON {what}"}, {"Allow": "POST"})

    @app.exception_handler(Exception)
    def failed(error: Exception):
        # A caller gets the request id to quote, never a stack trace; the log has it.
        log.exception(f"{what} failed")
        return answer(500, {"error": "internal error", "request_id": app.lambda_context.aws_request_id})

    return app
