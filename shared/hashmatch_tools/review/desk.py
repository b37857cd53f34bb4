"""The stack as the review desk reaches it, with the reviewer's own credentials (boto3's default chain): names, adapters, identity."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Mapping

from hashmatch.audit import ExemptionScope
from hashmatch.aws.audit_table import AuditTable
from hashmatch.aws.detail_pictures import stored_detail_pictures
from hashmatch.aws.hash_set.table import HashSetTable
from hashmatch.aws.quarantine import Quarantine
from hashmatch.aws.reference_pictures import ReferencePictures
from hashmatch.aws.review_table import ReviewTable, take_review_queue
from hashmatch.messages.hashes import DetailPicturesObject
from hashmatch.usecases.restore_upload import RestoreAnswer, RestoreOutcome
from hashmatch.usecases.review import ReviewDesk
from hashmatch_tools.stack_outputs import STACK_VARIABLES


@dataclass(frozen=True)
class CareSettings:
    """When the desk suggests a break: after this many items looked at, or this many minutes, whichever comes first."""

    break_after_items: int = 20
    break_after_minutes: int = 30


class MissingStackName(ValueError):
    """A name the desk needs was neither given nor in the environment."""


@dataclass(frozen=True)
class StackNames:
    """What the desk reads and writes, by the stack outputs' names (each also a HASHMATCH_* variable, stack_outputs.py)."""

    review_queue_url: str
    review_table: str
    audit_table: str
    hash_set_table: str
    details_bucket: str
    reference_pictures_bucket: str
    evidence_bucket: str
    restore_url: str
    evidence_retention_days: int

    # field -> the stack variable it defaults to
    VARIABLES = {
        "review_queue_url": "HASHMATCH_REVIEW_QUEUE_URL",
        "review_table": "HASHMATCH_REVIEW_TABLE",
        "audit_table": "HASHMATCH_AUDIT_TABLE",
        "hash_set_table": "HASHMATCH_HASH_SET_TABLE",
        "details_bucket": "HASHMATCH_DETAILS_BUCKET",
        "reference_pictures_bucket": "HASHMATCH_REFERENCE_PICTURES_BUCKET",
        "evidence_bucket": "HASHMATCH_EVIDENCE_BUCKET",
        "restore_url": "HASHMATCH_RESTORE_URL",
        "evidence_retention_days": "HASHMATCH_EVIDENCE_RETENTION_DAYS",
    }

    @classmethod
    def of(cls, given: Mapping[str, str | None], environ: Mapping[str, str] | None = None) -> "StackNames":
        """Each name as given (an option), else from its HASHMATCH_* variable; MissingStackName lists every one missing."""
        environ = os.environ if environ is None else environ
        values, missing = {}, []
        for field in fields(cls):
            variable = cls.VARIABLES[field.name]
            value = given.get(field.name) or environ.get(variable)
            if not value:
                missing.append(f"--{field.name.replace('_', '-')} or {variable} (stack output {STACK_VARIABLES[variable]})")
            values[field.name] = value
        if missing:
            raise MissingStackName("the desk needs " + "; ".join(missing))
        return cls(**{**values, "evidence_retention_days": int(values["evidence_retention_days"])})


class RestoreUrl:
    """The stack's restore URL, called as the reviewer: a SigV4-signed POST with the reviewer's own credentials. The
    function checks that they are a session of the restore or reviewers' role and records who signed as requested_by."""

    # HTTP statuses of RestoreUploadFunction (functions/restore_upload/app.py), back to the use case's outcomes.
    OUTCOMES = {200: RestoreOutcome.RESTORED, 400: RestoreOutcome.BAD_REQUEST, 403: RestoreOutcome.FORBIDDEN, 404: RestoreOutcome.NOT_QUARANTINED, 410: RestoreOutcome.GONE}
    CONFLICTS = {"KeyOccupied": RestoreOutcome.KEY_OCCUPIED, "ExemptionSpent": RestoreOutcome.EXEMPTION_SPENT, "AlsoMatched": RestoreOutcome.ALSO_MATCHED}

    def __init__(self, url: str, session, region: str, timeout: float = 90.0):
        self.url, self.session, self.region, self.timeout = url, session, region, timeout

    def restore(self, upload_id: str, reason: str, scope: ExemptionScope) -> RestoreAnswer:
        from hashmatch_tools.lookup_client import post_lookup

        # Not reaching the URL raises (urllib.error.URLError): the decision stays recorded, and sending it again finishes it.
        credentials = self.session.get_credentials()
        status, answer, _ = post_lookup(self.url, {"upload_id": upload_id, "reason": reason, "scope": ExemptionScope(scope).value}, credentials.get_frozen_credentials(), self.region, self.timeout)
        outcome = self.CONFLICTS.get(answer.get("error"), RestoreOutcome.KEY_OCCUPIED) if status == 409 else self.OUTCOMES.get(status, RestoreOutcome.FORBIDDEN)
        if status == 403 and not answer.get("reason"):
            answer = {**answer, "reason": "forbidden: run the desk as the reviewers' role (EvidenceReaderRoleName) or the restore role"}
        return RestoreAnswer(outcome, answer)


class Desk:
    """Everything the pages need, made once from a boto3 session: the reviewer's identity, the items, the trail, the pictures."""

    def __init__(self, session, names: StackNames, endpoint_url: str | None = None):
        options = {"endpoint_url": endpoint_url} if endpoint_url else {}
        self.names = names
        self.sqs = session.client("sqs", **options)
        self.s3 = session.client("s3", **options)
        dynamodb = session.resource("dynamodb", **options)
        # Who decides: the identity IAM authenticates for these credentials, never a name typed into a page.
        self.reviewer = session.client("sts", **options).get_caller_identity()["Arn"]
        self.items = ReviewTable(dynamodb.Table(names.review_table))
        self.audit = AuditTable(dynamodb.Table(names.audit_table))
        self.hash_set = HashSetTable(dynamodb.Table(names.hash_set_table))
        self.reference_pictures = ReferencePictures(self.s3, names.reference_pictures_bucket)
        region = session.region_name or self.sqs.meta.region_name
        self.review = ReviewDesk(
            items=self.items,
            audit=self.audit,
            quarantine=Quarantine(self.s3, names.evidence_bucket, names.evidence_retention_days),
            releaser=RestoreUrl(names.restore_url, session, region),
            allow_list=self.hash_set.entries,
        )

    def refresh(self) -> dict:
        """Read what the review queue holds into the items (each message kept once, then deleted from the queue)."""
        return take_review_queue(self.sqs, self.names.review_queue_url, self.items)

    def detail_pictures(self, sha256: str) -> DetailPicturesObject | None:
        return stored_detail_pictures(self.s3, self.names.details_bucket, sha256) if sha256 else None
