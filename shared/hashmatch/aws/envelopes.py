"""The Lambda envelopes around the messages: SNS's notification as a subscribed SQS queue delivers it (Powertools parser models)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.utilities.parser.models import SnsNotificationModel, SqsRecordModel
from pydantic import Field, Json

from hashmatch.messages.models import HoldMessage, MatchMessage


# What the match topic carries: the takedown and review queues take either, told apart by message_type.
TopicMessage = Annotated[MatchMessage | HoldMessage, Field(discriminator="message_type")]


class MatchNotification(SnsNotificationModel):
    """SNS's notification as a subscribed queue receives it; its Message is a match or hold message (JSON)."""

    Message: Json[TopicMessage]


class MatchMessageRecord(SqsRecordModel):
    """One record of the takedown queue's SQS event: the batch processor parses each on its own, so a bad one fails alone."""

    body: Json[MatchNotification]
