"""The lookup API's per-caller budget in DynamoDB: hashes per caller per minute, taken with one conditional update.

Table layout (partition key caller, sort key window):
  caller=<principal ARN>, window=<minutes since the epoch>   hashes: looked up in that minute
                                                             expires_at: TTL, an hour after it
A request adds its hash count only if the sum stays within the limit (UpdateItem with ADD and a
condition), so concurrent requests of one caller cannot overdraw it and a refused request costs
nothing. Hashes are counted, not requests: an oracle is tuned by trying many variants, and one
request of 100 hashes tries as many as 100 requests of one. A fixed window: a caller can spend
up to twice the limit across the turn of a minute, which the limit's size allows for.
"""

from __future__ import annotations

import time
from typing import Callable

from botocore.exceptions import ClientError

from hashmatch.aws.s3_objects import error_code
from hashmatch.usecases.look_up_hashes import Spent, Throttled

WINDOW_SECONDS = 60
# Items outlive their window by this much before DynamoDB's TTL removes them (for a look at who spent what).
KEEP_SECONDS = 3600


class LookupThrottle:
    """Per-caller budgets in the throttle table (a boto3 DynamoDB Table resource): the hashes each caller may look up per minute."""

    def __init__(self, table, hashes_per_minute: int, clock: Callable[[], float] = time.time):
        self.table = table
        self.limit = hashes_per_minute
        self.clock = clock

    def take(self, caller: str, hashes: int) -> Spent:
        """Spend `hashes` of the caller's minute; Throttled (nothing spent) when they do not fit."""
        now = self.clock()
        window = int(now // WINDOW_SECONDS)
        retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        if hashes > self.limit:
            raise Throttled(retry_after, self.limit)
        try:
            response = self.table.update_item(
                Key={"caller": caller, "window": window},
                UpdateExpression="ADD hashes :cost SET expires_at = if_not_exists(expires_at, :expires)",
                ConditionExpression="attribute_not_exists(hashes) OR hashes <= :room",
                ExpressionAttributeValues={":cost": hashes, ":room": self.limit - hashes, ":expires": (window + 1) * WINDOW_SECONDS + KEEP_SECONDS},
                ReturnValues="UPDATED_NEW",
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                raise Throttled(retry_after, self.limit) from None
            raise
        return Spent(int(response["Attributes"]["hashes"]), self.limit)
