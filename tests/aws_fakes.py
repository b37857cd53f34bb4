"""What the tests still fake of AWS: the faults moto 5.2.5 never produces. Everything else is moto (tests/aws_moto.py in-process for the
unit tests, moto's server for the functional and integration tiers).

Each was checked against moto 5.2.5 (its source, and a call against mock_aws):

- Throttling and server errors, in every tier: S3 SlowDown (503) and InternalError (500), DynamoDB
  ProvisionedThroughputExceededException and ThrottlingException, SNS InternalError, Throttling and
  KMSThrottling. moto answers every request it can serve: it has no request rates, capacity or
  failures to simulate, so its S3 and DynamoDB raise none of these codes, and its SNS raises
  InternalError only for a subscription filter policy with numbers out of range, never on Publish. `client_error`
  builds the ClientError botocore makes of such an answer; the unit tests raise it through botocore's
  Stubber on a moto client, the functional and integration tiers wrap the handlers' clients (mocker).
- Keys DynamoDB leaves unprocessed in a BatchGetItem (it does so when it throttles): moto answers
  every key unless the answer passes 16 MB (moto/dynamodb/responses.py, batch_get_item), which no unit
  test should write. `UnprocessedKeysOnce` wraps a moto client's batch_get_item.

What moto does that the hand-written fakes once did (and the unit tests now take from moto): versioned
buckets and delete markers, conditional PutObject (If-Match, If-None-Match: *) and GetObject (If-Match;
If-None-Match answers 304), ranged GETs with their ContentRange, CopyObject of a version with its
metadata, Object Lock; DynamoDB conditional writes, ADD and if_not_exists, the 400 KB item limit, paged
scans and queries (tests/aws_moto.py page_size scales the 1 MB page down to a few items), BatchWriteItem.
AccessDenied is moto's too: an IAM user without permissions under moto.core.enable_iam_authentication.
"""

from __future__ import annotations

from botocore.exceptions import ClientError


def client_error(code: str, operation: str, status: int = 400, message: str = "") -> ClientError:
    """A ClientError as botocore builds it from an AWS error response."""
    return ClientError(
        {"Error": {"Code": code, "Message": message or code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


class UnprocessedKeysOnce:
    """Wraps a real (moto) client's batch_get_item: the next call asks for all its keys but the last, and answers that one as
    unprocessed, as DynamoDB does when it throttles, so the caller must ask again. `requests` lists every call's parameters."""

    def __init__(self, client):
        self.requests: list[dict] = []
        self._real = client.batch_get_item
        self._pending = True
        client.batch_get_item = self._batch_get_item

    def _batch_get_item(self, **params) -> dict:
        self.requests.append(params)
        if not self._pending:
            return self._real(**params)
        self._pending = False
        ((name, request),) = params["RequestItems"].items()
        asked, held = request["Keys"][:-1], request["Keys"][-1:]
        answer = self._real(**{**params, "RequestItems": {name: {**request, "Keys": asked}}}) if asked else {"Responses": {name: []}}
        answer["UnprocessedKeys"] = {name: {**request, "Keys": held}}
        return answer
