"""Restoring an upload after a complaint: who may ask, what they asked, and the restore itself with its exemption.

A restore is asked for by a signed call (the restore URL): the caller is the IAM identity that
signed it, never a field of the body. The answer is an outcome (RestoreOutcome) with the body to
return; the handler maps outcomes to HTTP statuses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import ValidationError

from hashmatch.audit import AuditEvent, AuditTrail, ExemptionCovers, ExemptionScope, find_exemption
from hashmatch.callers import Caller
from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.evidence import Evidence, KeyOccupied
from hashmatch.messages.models import RestoreRequest
from hashmatch.uploads import Upload, UploadGone
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.usecases.take_down import NotQuarantined, TakedownOutcome


class AlsoMatched(RuntimeError):
    """A restore of an upload held as uncheckable that a match message also named: the takedown kept the hold's
    outcome, so the reviewer asked to restore it may not have seen the match; refused until the match is looked at."""


class ExemptionSpent(RuntimeError):
    """A restore of bytes whose one exemption has expired or been revoked: refused, since they would be taken down again."""


class Restorable(Protocol):
    """The evidence a restore copies back (hashmatch.aws.quarantine.Quarantine)."""

    def check_restorable(self, upload: Upload, evidence: Evidence, taken_down_at: datetime | None = None) -> dict:
        """Raises UploadGone (no evidence) or KeyOccupied (something newer is at the key)."""

    def restore(self, upload: Upload, evidence: Evidence, taken_down_at: datetime | None = None) -> Upload:
        """Copy the evidence back; returns the restored object (its new version, ETag and size)."""


class RestoreOutcome(StrEnum):
    RESTORED = "restored"
    FORBIDDEN = "forbidden"  # not a session of the restore role of this account
    BAD_REQUEST = "bad-request"  # not a restore request
    NOT_QUARANTINED = "not-quarantined"  # NotQuarantined
    GONE = "gone"  # UploadGone: the evidence is not there
    KEY_OCCUPIED = "key-occupied"  # KeyOccupied: a newer upload is at the key
    EXEMPTION_SPENT = "exemption-spent"  # ExemptionSpent
    ALSO_MATCHED = "also-matched"  # AlsoMatched


_REFUSALS = {
    NotQuarantined: RestoreOutcome.NOT_QUARANTINED,
    UploadGone: RestoreOutcome.GONE,
    KeyOccupied: RestoreOutcome.KEY_OCCUPIED,
    ExemptionSpent: RestoreOutcome.EXEMPTION_SPENT,
    AlsoMatched: RestoreOutcome.ALSO_MATCHED,
}


@dataclass(frozen=True)
class RestoreAnswer:
    outcome: RestoreOutcome
    body: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Restorer:
    """What a restore needs: the evidence, the trail, how long exemptions last, and who may ask."""

    quarantine: Restorable
    audit: AuditTrail
    exemption_days: int
    restore_roles: frozenset[str]  # role names of this account whose sessions may restore; empty: any caller of this account
    own_account: str
    log: Log
    metrics: Metrics
    clock: Clock = SYSTEM_CLOCK
    # The reviewers' role (EvidenceReaderRoleName): its sessions release held uploads from `hashmatch review` too.
    reviewer_roles: frozenset[str] = frozenset()


def may_restore(caller: Caller, restorer: Restorer) -> bool:
    """A session of the restore role (or the reviewers' role) of this account; with no restore role named, any caller of
    this account IAM let through (the URL's resource policy grants nobody then but the reviewers' role, so only those
    with lambda:InvokeFunctionUrl in their own policies)."""
    if restorer.restore_roles:
        return caller.is_role_session_of(restorer.own_account, restorer.restore_roles | restorer.reviewer_roles)
    return caller.account == restorer.own_account


def restore_upload(caller: Caller | None, body: str | None, restorer: Restorer) -> RestoreAnswer:
    """A signed call's restore request, answered: refused (who, what, or why not), or the restore record."""
    metrics, log = restorer.metrics, restorer.log
    if caller is None or not may_restore(caller, restorer):
        metrics.count("RestoresForbidden")
        # Who tried is kept in the log: a refused restore is worth knowing about.
        log.warning("restore forbidden", caller=caller.arn if caller else None)
        roles = restorer.restore_roles | restorer.reviewer_roles if restorer.restore_roles else frozenset()
        allowed = f"sessions of the role {', '.join(sorted(roles))} of this account" if roles else "callers of this account"
        return RestoreAnswer(RestoreOutcome.FORBIDDEN, {"error": "forbidden", "reason": f"only {allowed} may restore (sign the request with SigV4, service lambda)"})
    try:
        request = RestoreRequest.from_call(json.loads(body or ""), caller.arn)
    except ValidationError as error:
        metrics.count("RestoresRefused")
        problems = [f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg']}" for problem in error.errors()]
        return RestoreAnswer(RestoreOutcome.BAD_REQUEST, {"error": "bad request", "reason": "; ".join(problems)[:2000]})
    except ValueError as error:  # not JSON, not an object, or a requested_by of its own
        metrics.count("RestoresRefused")
        log.info("bad restore request", caller=caller.arn, detail=str(error)[:300])
        return RestoreAnswer(RestoreOutcome.BAD_REQUEST, {"error": "bad request", "reason": str(error)[:2000]})
    try:
        record = restore(request, restorer.quarantine, restorer.audit, restorer.exemption_days, restorer.clock)
    except tuple(_REFUSALS) as refused:
        metrics.count("RestoresRefused")
        log.info("restore refused", upload_id=request.upload_id, requested_by=caller.arn, refusal=type(refused).__name__, detail=str(refused))
        return RestoreAnswer(_REFUSALS[type(refused)], {"error": type(refused).__name__, "reason": str(refused)})
    metrics.count("UploadsRestored")
    log.info("upload restored", upload_id=request.upload_id, requested_by=caller.arn, scope=request.scope, restored_as=record.get("restored_as"))
    return RestoreAnswer(RestoreOutcome.RESTORED, record)


def restore(request: RestoreRequest, quarantine: Restorable, audit: AuditTrail, exemption_days: int, clock: Clock = SYSTEM_CLOCK) -> dict:
    """Reinstate a quarantined upload after a complaint, and exempt its exact bytes from future matches for
    `exemption_days` (0: until revoked): at its own bucket and key (scope "upload") or everywhere (scope "bytes").

    What the exemption covers follows what was taken down: a match's restore covers later matches (and holds) of the
    bytes; a hold's restore covers only holds ("could not be checked"), so a match found later is published. An upload
    held unread (too large for its digest) is exempted by the restored version, its ETag and size, never by its key.
    Raises NotQuarantined, AlsoMatched, UploadGone (no evidence), KeyOccupied or ExemptionSpent."""
    upload_id, reason, requested_by = request.upload_id, request.reason, request.requested_by
    scope = ExemptionScope(request.scope)
    done = audit.get(upload_id, AuditEvent.RESTORED)
    if done:
        return done
    takedown = audit.get(upload_id, AuditEvent.TAKEDOWN)
    if not takedown:
        raise NotQuarantined(f"no quarantine is recorded for {upload_id}")
    held = takedown.get("outcome") == TakedownOutcome.HELD.value
    matched = audit.get(upload_id, AuditEvent.MATCHED)
    if held and matched:
        references = ", ".join(matched.get("references", []))
        raise AlsoMatched(f"{upload_id} was held as uncheckable and also matched the hash set ({references}, match {matched.get('match_id')}); not restored")
    covers = ExemptionCovers.CANNOT_CHECK if held else ExemptionCovers.MATCHES
    upload = Upload.from_object(takedown["bucket"], takedown["key"], takedown.get("version_id"))
    kept = takedown["evidence"]
    evidence = Evidence(kept["bucket"], kept["key"], kept.get("version_id"), takedown.get("retain_until", ""))
    taken_down_at = datetime.fromisoformat(takedown["recorded_at"])
    # Checked before anything is written: a restore that cannot happen leaves no exemption behind.
    quarantine.check_restorable(upload, evidence, taken_down_at)
    sha256 = takedown["sha256"]
    expires_at = clock.after(exemption_days) if exemption_days > 0 else None
    exempted = {"reinstated": upload_id, "reason": reason, "requested_by": requested_by, "expires_at": expires_at, "covers": covers}
    if not sha256:
        # Held too large to read for its digest: "these bytes" cannot be named, and "this key" would exempt any later
        # object too large to read there. The exemption names the restored version, its ETag and size, so it is written
        # once the copy exists (its notification reaches the matcher only after the hasher's HEAD and two queues).
        scope = ExemptionScope.VERSION
        restored = quarantine.restore(upload, evidence, taken_down_at)
        audit.exempt(sha256, scope=scope, bucket=restored.bucket, key=restored.key, version={"upload_id": restored.upload_id, "etag": restored.etag, "size": restored.size}, **exempted)
        exemption = find_exemption(audit, sha256, bucket=restored.bucket, key=restored.key, upload_id=restored.upload_id, etag=restored.etag, size=restored.size, hold=True)
    else:
        # The exemption comes first: the restored object raises a new upload notification at once.
        audit.exempt(sha256, scope=scope, bucket=upload.bucket, key=upload.key, **exempted)
        # What the matcher will ask of the restored object: is an exemption of its bytes at its key in force? Not when the
        # one just asked for was made once before and has since expired or been revoked (one per scope, place and cover):
        # the object would be quarantined again at once.
        exemption = find_exemption(audit, sha256, bucket=upload.bucket, key=upload.key, hold=held)
        if exemption is None:
            raise ExemptionSpent(f"the bytes of {upload_id} (sha256 {sha256}) were exempted ({scope.value} scope) once before and that exemption has ended; not restored")
        restored = quarantine.restore(upload, evidence, taken_down_at)
    audit.record(
        upload_id,
        AuditEvent.RESTORED,
        reason=reason,
        requested_by=requested_by,
        restored_as=restored.upload_id,
        sha256=sha256,
        scope=scope.value,
        exemption={"scope": exemption.get("scope", ExemptionScope.BYTES.value), "covers": exemption.get("covers", ExemptionCovers.MATCHES.value), "id": exemption["upload_id"], "expires_at": exemption.get("expires_at")},
    )
    return audit.get(upload_id, AuditEvent.RESTORED)
