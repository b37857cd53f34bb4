"""The environment variables the `hashmatch` commands read for a stack, each named after the stack output it holds.

One list, read by the commands (their defaults) and printed by `make local-stack` (the `export` lines
that point a shell at the local stack), so that the two cannot disagree.
"""

from __future__ import annotations

import os
from typing import Mapping

# variable -> the stack output (template.yaml Outputs) whose value it holds
STACK_VARIABLES: dict[str, str] = {
    "HASHMATCH_HASH_SET_TABLE": "HashSetTableName",
    "HASHMATCH_REFERENCE_FEATURES_BUCKET": "ReferenceFeaturesBucketName",
    "HASHMATCH_SNAPSHOT_BUCKET": "SnapshotBucketName",
    "HASHMATCH_MANIFEST_KEY_ID": "ManifestSigningKeyArn",
    "HASHMATCH_AUDIT_TABLE": "AuditTableName",
    "HASHMATCH_EVIDENCE_BUCKET": "EvidenceBucketName",
    "HASHMATCH_LOOKUP_URL": "LookUpHashesFunctionUrl",
    "HASHMATCH_RESTORE_URL": "RestoreUploadFunctionUrl",
    "HASHMATCH_REFERENCE_PICTURES_BUCKET": "ReferencePicturesBucketName",
    "HASHMATCH_REVIEW_QUEUE_URL": "ReviewQueueUrl",
    "HASHMATCH_REVIEW_TABLE": "ReviewTableName",
    "HASHMATCH_DETAILS_BUCKET": "DetailsBucketName",
    "HASHMATCH_EVIDENCE_RETENTION_DAYS": "EvidenceRetentionDays",
    "HASHMATCH_EXCHANGE_TABLE": "ExchangeTableName",
    "HASHMATCH_MATCH_POLICY_TABLE": "MatchPolicyTableName",
    "HASHMATCH_EXCHANGE_SECRET_PREFIX": "ExchangeSecretPrefix",
}


def from_environment(variable: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value a command takes by default: the variable's, when set and not empty."""
    if variable not in STACK_VARIABLES:
        raise KeyError(f"{variable} is not one of the stack variables ({', '.join(STACK_VARIABLES)})")
    value = (os.environ if environ is None else environ).get(variable, "")
    return value or None


def export_lines(outputs: Mapping[str, str]) -> list[str]:
    """`export NAME=value` for each stack variable whose output the stack has (shell-quoted)."""
    import shlex

    return [f"export {variable}={shlex.quote(outputs[output])}" for variable, output in STACK_VARIABLES.items() if output in outputs]
