"""The match topic (SNS): match and hold messages published with the attributes subscribers filter on."""

from __future__ import annotations

import json

from hashmatch.messages.models import HoldMessage, MatchMessage


def message_attributes(message: MatchMessage | HoldMessage) -> dict:
    """SNS attributes for subscription filter policies: label (any of the matched labels), action, media_kind;
    a hold message has action hold, its reason, and media_kind when the upload was hashed in part."""
    if isinstance(message, HoldMessage):
        attributes = {
            "action": {"DataType": "String", "StringValue": message.action},
            "reason": {"DataType": "String", "StringValue": message.reason},
        }
        if message.media_kind:
            attributes["media_kind"] = {"DataType": "String", "StringValue": message.media_kind}
        return attributes
    labels = sorted({entry.label for entry in message.matches})
    return {
        "label": {"DataType": "String.Array", "StringValue": json.dumps(labels)},
        "action": {"DataType": "String", "StringValue": message.action},
        "media_kind": {"DataType": "String", "StringValue": message.media.kind},
    }


class MatchTopic:
    """The match topic (a boto3 SNS client and the topic's ARN)."""

    def __init__(self, sns, topic_arn: str):
        self.sns, self.topic_arn = sns, topic_arn

    def publish(self, message: MatchMessage | HoldMessage) -> str:
        """Publish one match or hold message (its JSON, compact, as the schema defines it); returns the SNS message id."""
        response = self.sns.publish(TopicArn=self.topic_arn, Message=message.model_dump_json(), MessageAttributes=message_attributes(message))
        return response["MessageId"]


class IdempotentPublisher:
    """The matcher's publisher (hashmatch.usecases.check_upload.Publisher): each match and each hold published once
    (Powertools idempotency in the idempotency table), so that a redelivered upload (a retried batch) publishes nothing new.

    A match is keyed by its match id (the upload and the hash-set version decide it), a hold by its hold id (one
    per upload); both are kept as long as a message can wait in the hashes queue.
    """

    KEEP_SECONDS = 14 * 24 * 3600

    def __init__(self, topic: MatchTopic, idempotency_table: str):
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

        self.topic = topic
        self.match_config = IdempotencyConfig(event_key_jmespath="match_id", expires_after_seconds=self.KEEP_SECONDS, raise_on_no_idempotency_key=True)
        self.hold_config = IdempotencyConfig(event_key_jmespath="hold_id", expires_after_seconds=self.KEEP_SECONDS, raise_on_no_idempotency_key=True)
        self.persistence = DynamoDBPersistenceLayer(table_name=idempotency_table)
        # A store of its own for holds: a persistence layer takes the key path of the first config it serves.
        self.hold_persistence = DynamoDBPersistenceLayer(table_name=idempotency_table)

        def publish_match(message: MatchMessage) -> dict:
            return {"sns_message_id": self.topic.publish(message)}

        def publish_hold(message: HoldMessage) -> dict:
            return {"sns_message_id": self.topic.publish(message)}

        self._match = idempotent_function(data_keyword_argument="message", config=self.match_config, persistence_store=self.persistence)(publish_match)
        self._hold = idempotent_function(data_keyword_argument="message", config=self.hold_config, persistence_store=self.hold_persistence)(publish_hold)

    def register_lambda_context(self, context) -> None:
        self.match_config.register_lambda_context(context)
        self.hold_config.register_lambda_context(context)

    def publish_match(self, message: MatchMessage) -> str:
        return self._match(message=message)["sns_message_id"]

    def publish_hold(self, message: HoldMessage) -> str:
        return self._hold(message=message)["sns_message_id"]
