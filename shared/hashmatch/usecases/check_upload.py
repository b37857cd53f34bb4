"""Checking an upload against the hash set: the matcher's use case, and the one rule that decides what is published.

`publication` is that rule, for the live matcher and retro-match alike: whether a match (or a
hold) of an upload is published, or left alone because the upload's bytes were reinstated at
its place after a complaint (an exemption), because CannotCheckAction allows it, or (retro-match
only) because it was handled already. Both call sites ask it the same question with the same
facts: the upload's bucket and key, its SHA-256, the audit trail.

`match_publication` wraps it for matches, again for both call sites: each source's policy (its
action and PDQ distance) decides which matches stand and what they recommend, then `publication`
whether they are published, and flood protection counts the published ones and switches an item
flooding uploads to review (match_policy.py). A match the policies drop is no match; an upload
left alone by the rule counts against no item.

`check_upload` is the live matcher: one hashes message in, one outcome out (CheckOutcome).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Callable, Protocol

from hashmatch.audit import AuditEvent, AuditTrail, find_exemption
from hashmatch.clock import SYSTEM_CLOCK, Clock
from hashmatch.matching.assembly import HashSetVersion, KnownItemMatch
from hashmatch.matching.matcher import DetailPictureLoader, MatchResult
from hashmatch.messages.building import hold_message, live_match_id, match_message
from hashmatch.messages.hashes import DetailPicturesObject, HashesMessage
from hashmatch.messages.models import HoldMessage, MatchMessage
from hashmatch.model import MediaHashes
from hashmatch.uploads import Upload
from hashmatch.usecases.match_policy import NO_POLICY, FloodSwitch, MatchPolicy, by_source_policy, flood_guarded
from hashmatch.usecases.ports import Log, Metrics
from hashmatch.usecases.take_down import TakedownOutcome
from hashmatch.vocabulary import Action, CannotCheckAction, CannotCheckReason, Stage, strongest


# ---------------------------------------------------------------- the one rule


class Publication(StrEnum):
    """What becomes of a match or a hold of an upload (the rule `publication` decides)."""

    PUBLISH = "publish"  # publish it: the takedown and the reviewers act on it
    EXEMPTED = "exempted"  # not published: these bytes were reinstated at this place (or everywhere) after a complaint
    ALLOWED = "allow"  # a hold not published: CannotCheckAction is allow (recorded, left online)
    NOT_AN_OBJECT = "not-an-object"  # a hold of a hash-only request: there is nothing to hold
    ALREADY_PUBLISHED = "already-published"  # retro-match: this match was published by an earlier run
    MATCHED_LIVE = "matched-live"  # retro-match: a match of the upload was published already, as strong as this one
    TAKEN_DOWN = "taken-down"  # retro-match: the upload was taken down for a match, or restored (the restored object is another upload)
    NO_MATCH = "no-match"  # matches only: none found, or none the sources' policies keep (their PDQ distances)


@dataclass(frozen=True)
class PublicationDecision:
    publication: Publication
    exemption: dict | None = None  # the exemption record in force, when EXEMPTED
    matches: tuple[KnownItemMatch, ...] = ()  # match_publication: the matches as the sources' policies (and, when published, flood protection) leave them
    switched: tuple[FloodSwitch, ...] = ()  # match_publication: the items these matches switched to review (flood protection)


@dataclass(frozen=True)
class RetroFacts:
    """What retro-match asks the rule about beside the upload: the id it would publish under and the action the match recommends."""

    match_id: str
    action: Action


def retro_record_id(match_id: str) -> str:
    """The audit record a published retro-match is kept under."""
    return f"retro:{match_id}"


def publication(
    audit: AuditTrail,
    upload: Upload,
    sha256: str,
    *,
    hold: bool = False,
    cannot_check_action: CannotCheckAction = CannotCheckAction.HOLD,
    retro: RetroFacts | None = None,
) -> PublicationDecision:
    """Whether a match (or with `hold`, a hold) of this upload is published: the one rule, live and retro.

    An exemption is looked up by the upload's bytes and its place (hashmatch.audit.find_exemption): a restore
    scoped to the upload covers these bytes at that key only, one scoped to the bytes covers them everywhere, and
    bytes never read for their digest are covered by their version, ETag and size only. A restore of a hold
    covers holds only: a match found later is published.

    A retro-match (`retro`) is also not published when it was published before; when a match of the upload was
    published already, unless that one asked for review and this one for quarantine (an escalation); or when the
    upload was taken down for a match, or restored. An upload held because it could not be checked is matched
    retroactively like any other: its match is published, and recorded, so that a restore of the hold is refused
    (restore_upload.AlsoMatched).
    """
    if retro is not None:
        if audit.get(retro_record_id(retro.match_id), AuditEvent.RETRO_MATCHED):
            return PublicationDecision(Publication.ALREADY_PUBLISHED)
        earlier = audit.get(upload.upload_id, AuditEvent.MATCHED)
        if earlier and not (earlier.get("action") == Action.REVIEW and retro.action == Action.QUARANTINE):
            return PublicationDecision(Publication.MATCHED_LIVE)
        taken_down = audit.get(upload.upload_id, AuditEvent.TAKEDOWN)
        if (taken_down and taken_down.get("outcome") != TakedownOutcome.HELD.value) or audit.get(upload.upload_id, AuditEvent.RESTORED):
            return PublicationDecision(Publication.TAKEN_DOWN)
    if hold and not upload.is_object:
        return PublicationDecision(Publication.NOT_AN_OBJECT)
    exemption = find_exemption(audit, sha256, bucket=upload.bucket, key=upload.key, upload_id=upload.upload_id, etag=upload.etag, size=upload.size, hold=hold)
    if exemption:
        return PublicationDecision(Publication.EXEMPTED, exemption)
    if hold and cannot_check_action == CannotCheckAction.ALLOW:
        return PublicationDecision(Publication.ALLOWED)
    return PublicationDecision(Publication.PUBLISH)


def match_publication(
    audit: AuditTrail,
    upload: Upload,
    sha256: str,
    matches: list[KnownItemMatch],
    policy: MatchPolicy,
    *,
    result: MatchResult | None = None,
    hashes: MediaHashes | None = None,
    retro_match_id: str | None = None,
) -> PublicationDecision:
    """What becomes of an upload's matches, live (with the matcher's `result` and the upload's `hashes`) and retro alike.

    The sources' policies first (a match none of its sources accepts is dropped; NO_MATCH when none
    is left, without asking the audit trail), then `publication`, then, for matches to be published
    only, flood protection: each counts its upload against its item, and an item in review makes its
    match recommend review.
    """
    kept = by_source_policy(matches, policy, result, hashes)
    if not kept:
        return PublicationDecision(Publication.NO_MATCH)
    retro = RetroFacts(retro_match_id, strongest(match.item.action for match in kept)) if retro_match_id is not None else None
    decided = publication(audit, upload, sha256, retro=retro)
    if decided.publication != Publication.PUBLISH:
        return replace(decided, matches=tuple(kept))
    guarded, switched = flood_guarded(kept, upload.upload_id, policy)
    return replace(decided, matches=tuple(guarded), switched=tuple(switched))


# ---------------------------------------------------------------- the live matcher


class CheckOutcome(StrEnum):
    """How checking one upload ended (logged and counted by the matcher)."""

    MATCHED = "matched"  # a match message published
    MATCHED_AND_HELD = "matched-and-held"  # a review match in the part hashed: published, and the upload held for the rest
    UNMATCHED = "unmatched"  # nothing in the hash set matched
    EXEMPTED = "exempted"  # matched, but these bytes were reinstated here after a complaint: nothing published
    HELD = "held"  # could not be checked (or only in part, with no match): a hold message published
    LEFT_UNCHECKED = "left-unchecked"  # could not be checked and left in place (allowed, exempted, or no object)


class HashSetSource(Protocol):
    """The hash set as a matcher holds it (hashmatch.aws.hash_set.live.LiveHashSet)."""

    source: str  # where the version came from: "snapshot" or "table scan"

    def get(self) -> HashSetVersion: ...


class Publisher(Protocol):
    """The match topic, publishing each message once (the matcher's idempotency): returns the SNS message id."""

    def publish_match(self, message: MatchMessage) -> str: ...

    def publish_hold(self, message: HoldMessage) -> str: ...


class UploadLog(Protocol):
    """The upload hash log's outbox: a checked upload's hashes, sent after the batch (retro-match searches them)."""

    def add(self, upload: Upload, hashes: MediaHashes, hashed_at: str, checked_at: str) -> None: ...


@dataclass(frozen=True)
class Checker:
    """What checking an upload needs: the hash set, the trail, where messages go, and how to read detail pictures."""

    hash_set: HashSetSource
    audit: AuditTrail
    publisher: Publisher
    upload_log: UploadLog
    detail_pictures: Callable[[DetailPicturesObject], DetailPictureLoader]
    cannot_check_action: CannotCheckAction
    log: Log
    metrics: Metrics
    clock: Clock = SYSTEM_CLOCK
    policy: MatchPolicy = NO_POLICY  # the sources' policies and flood protection


# HashesQueue's maxReceiveCount: on the last delivery before the dead-letter queue, an upload the matcher keeps failing on
# is held instead of failing once more, as the hasher does (hash_upload.MAX_DELIVERIES): it must not stay online unchecked.
MAX_DELIVERIES = 5


def check_upload(request: HashesMessage, checker: Checker, receive_count: int = 1) -> CheckOutcome:
    """Match one hashes message against the hash set and publish what the rule says (a match, a hold, or nothing).

    A failure raises (the queue redelivers the message), except on the last delivery (`receive_count` MAX_DELIVERIES):
    then the upload is held as one the matcher failed on, rather than dead-lettered while it stays online unchecked."""
    try:
        return _check(request, checker)
    except Exception as error:
        if receive_count < MAX_DELIVERIES:
            raise
        checker.metrics.count("MatcherFailedUploads")
        checker.log.error("checking failed on the last delivery: held", upload_id=request.upload.upload_id, error=f"{type(error).__name__}: {error}"[:500])
        detail = f"the matcher failed on it on delivery {receive_count} of {MAX_DELIVERIES} ({type(error).__name__})"
        return cannot_check(request, CannotCheckReason.FAILED, detail, checker)


def _check(request: HashesMessage, checker: Checker) -> CheckOutcome:
    if request.unchecked is not None:
        return cannot_check(request, request.unchecked.reason, request.unchecked.detail, checker)
    upload, hashes, metrics, log = request.upload, request.hashes, checker.metrics, checker.log
    loaded = checker.hash_set.get()
    # A message without detail pictures (a hash-only request) is matched by PDQ alone.
    detail_pictures = checker.detail_pictures(request.detail_pictures) if request.detail_pictures else None
    result, found = loaded.match(hashes, detail_pictures)
    decided = match_publication(checker.audit, upload, hashes.sha256, found, checker.policy, result=result, hashes=hashes)
    matches = list(decided.matches)
    if upload.is_object:
        # Hash-only requests name no object and are not logged.
        checker.upload_log.add(upload, hashes, request.hashed_at, checker.clock.now())
    second_stage_seconds = result.seconds.get(Stage.LOCAL_FEATURES)
    if second_stage_seconds is not None:
        metrics.count("SecondStageRuns")
        metrics.seconds("SecondStageSeconds", second_stage_seconds)
    if not matches and hashes.partial:
        # The part hashed in the time budget matched nothing: the rest was never looked at.
        return cannot_check(request, CannotCheckReason.PARTIAL, f"{_covered(hashes)}, which matched nothing", checker)
    if not matches:
        metrics.count("UploadsUnmatched")
        log.info("no match", upload_id=upload.upload_id, frames=len(hashes.frames), stages=[str(s) for s in result.stages], second_stage_seconds=second_stage_seconds, hash_set_version=loaded.version, hash_set_source=checker.hash_set.source)
        return CheckOutcome.UNMATCHED
    stage = str(result.deciding_stage)
    if result.deciding_stage == Stage.LOCAL_FEATURES:
        metrics.count("OrbMatches")
    references = [m.item.reference_id for m in matches]
    if decided.publication == Publication.EXEMPTED:
        metrics.count("MatchesExempted")
        log.info("match exempted", upload_id=upload.upload_id, exemption=decided.exemption, deciding_stage=stage)
        checker.audit.record(upload.upload_id, AuditEvent.EXEMPTED, sha256=hashes.sha256, references=references, reinstated=decided.exemption["reinstated"])
        return CheckOutcome.EXEMPTED
    switched = decided.switched
    floods_reported(switched, log, metrics)
    in_review = [m.item.reference_id for m in matches if m.item.action == Action.REVIEW]
    message = match_message(request, matches, live_match_id(upload.upload_id, references))
    message_id = checker.publisher.publish_match(message)
    # Every published match is on record, review matches included; retro-match skips uploads that have one.
    # (The record's field decided_by is a stored name: the stage that decided.)
    checker.audit.record(upload.upload_id, AuditEvent.MATCHED, match_id=message.match_id, action=message.action, sns_message_id=message_id, references=references, decided_by=stage, review=in_review or None, flood_switched=[s.key for s in switched] or None)
    metrics.count("UploadsMatched")
    log.info("match published", upload_id=upload.upload_id, match_id=message.match_id, sns_message_id=message_id, action=message.action, deciding_stage=stage, second_stage_seconds=second_stage_seconds, references=references)
    if hashes.partial and message.action != Action.QUARANTINE:
        # A review match in the part hashed leaves the rest unseen and the upload online: held as well.
        detail = f"{_covered(hashes)}, which matched references asking for review only"
        cannot_check(request, CannotCheckReason.PARTIAL, detail, checker)
        return CheckOutcome.MATCHED_AND_HELD
    return CheckOutcome.MATCHED


def cannot_check(request: HashesMessage, reason: CannotCheckReason, detail: str, checker: Checker) -> CheckOutcome:
    """An upload that could not be checked is recorded and counted, and held (a hold message the takedown acts on)
    unless the rule says otherwise (CannotCheckAction allow, reinstated at its place, or no object to hold)."""
    upload, audit, metrics, log = request.upload, checker.audit, checker.metrics, checker.log
    sha256 = request.unchecked.sha256 if request.unchecked is not None else request.hashes.sha256
    metrics.count("UploadsCannotCheck")
    metrics.count("UploadsCannotCheck", dimension=("reason", str(reason)))
    decided = publication(audit, upload, sha256, hold=True, cannot_check_action=checker.cannot_check_action)
    if decided.publication != Publication.PUBLISH:
        allowed = str(decided.publication)
        audit.record(upload.upload_id, AuditEvent.CANNOT_CHECK, reason=str(reason), detail=detail, action=allowed, sha256=sha256)
        log.warning("upload cannot be checked: left in place", upload_id=upload.upload_id, reason=str(reason), detail=detail, action=allowed)
        return CheckOutcome.LEFT_UNCHECKED
    message = hold_message(request, reason, detail)
    message_id = checker.publisher.publish_hold(message)
    audit.record(upload.upload_id, AuditEvent.CANNOT_CHECK, reason=str(reason), detail=detail, action=str(checker.cannot_check_action), hold_id=message.hold_id, sns_message_id=message_id, sha256=sha256)
    metrics.count("UploadsHeld")
    log.warning("upload cannot be checked: held", upload_id=upload.upload_id, reason=str(reason), detail=detail, hold_id=message.hold_id, sns_message_id=message_id)
    return CheckOutcome.HELD


def floods_reported(switched: tuple[FloodSwitch, ...], log: Log, metrics: Metrics) -> None:
    """Each item this upload switched to review: counted (the FloodSwitches alarm) and logged with why."""
    for made in switched:
        metrics.count("FloodSwitches")
        log.error("flood protection: item switched to review", key=made.key, source=made.source, matches=made.matches, limit=made.limit.matches, window_minutes=made.limit.window_minutes, reason=made.reason)


def _covered(hashes: MediaHashes) -> str:
    """What of a partial hash was looked at: the seconds covered, and the pictures that were not (wholly) looked at and why."""
    text = f"hashed in part: {hashes.covered_seconds or 0.0:.1f} s of {hashes.duration:.1f} s covered"
    short = [track for track in hashes.tracks if track.uncovered_share > 0.0]
    if short:
        text += "; not (wholly) looked at: " + "; ".join(f"{track.source} {track.name}".strip() + (f" ({track.note})" if track.note else f" ({100 * track.uncovered_share:.0f} % uncovered)") for track in short[:5])
    return text
