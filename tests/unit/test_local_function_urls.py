"""The local function URL's door: SigV4 signatures checked as AWS_IAM does, and the payload-2.0 event the handler gets."""

from __future__ import annotations

import json
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from hashmatch_tools.local.function_urls import Forbidden, authenticate, function_url_event, http_response
from hashmatch_tools.local.identities import LOCAL_IDENTITIES

REGION = "eu-west-1"
HOST = "127.0.0.1:8123"
BODY = b'{"pdq": []}'
PARTNER = next(identity for identity in LOCAL_IDENTITIES if identity.name == "partner")


def signed(identity=PARTNER, body: bytes = BODY, region: str = REGION, service: str = "lambda", secret: str | None = None) -> dict[str, str]:
    """The headers botocore sends for a POST to the URL, lowercased as the server reads them."""
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(identity.access_key, secret or identity.secret_key), service, region).add_auth(request)
    return {name.lower(): value for name, value in request.prepare().headers.items()} | {"host": HOST}


def check(headers: dict[str, str], body: bytes = BODY, now: float | None = None):
    return authenticate("POST", HOST, "/", headers, body, LOCAL_IDENTITIES, REGION, now)


def test_a_request_signed_with_known_keys_is_that_identitys():
    assert check(signed()) == PARTNER


def test_an_unsigned_request_is_forbidden():
    with pytest.raises(Forbidden, match="no SigV4"):
        check({"host": HOST, "content-type": "application/json"})


def test_a_changed_body_is_forbidden():
    with pytest.raises(Forbidden, match="signature does not match"):
        check(signed(), body=b'{"pdq": ["' + b"0" * 64 + b'"]}')


def test_a_wrong_secret_is_forbidden():
    with pytest.raises(Forbidden, match="signature does not match"):
        check(signed(secret="guessed"))


@pytest.mark.parametrize("region, service", [("us-east-1", "lambda"), (REGION, "execute-api")])
def test_a_signature_for_another_region_or_service_is_forbidden(region, service):
    with pytest.raises(Forbidden, match="credential scope"):
        check(signed(region=region, service=service))


def test_an_old_signature_is_forbidden():
    headers = signed()
    with pytest.raises(Forbidden, match="five minutes"):
        check(headers, now=time.time() + 600)


def test_the_event_names_the_caller_in_the_iam_authorizer():
    event = function_url_event("POST", "/?a=1&a=2", {"host": HOST, "content-type": "application/json"}, BODY, "127.0.0.1", PARTNER, "fn")

    iam = event["requestContext"]["authorizer"]["iam"]
    assert (iam["userArn"], iam["accountId"], iam["accessKey"]) == (PARTNER.arn, PARTNER.account, PARTNER.access_key)
    assert event["body"] == BODY.decode() and event["isBase64Encoded"] is False
    assert event["queryStringParameters"] == {"a": "1,2"} and event["rawPath"] == "/"


def test_a_binary_body_arrives_base64_encoded():
    event = function_url_event("POST", "/", {"host": HOST, "content-type": "application/octet-stream"}, b"\xff\x00", "127.0.0.1", None, "fn")

    assert event["isBase64Encoded"] is True and event["body"] == "/wA="
    assert "authorizer" not in event["requestContext"]


def test_a_result_without_a_status_code_is_a_json_200():
    assert http_response({"pdq": []}) == (200, {"Content-Type": "application/json"}, [], json.dumps({"pdq": []}).encode())
