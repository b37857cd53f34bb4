"""The match and hold messages built from what the matcher found (models.MatchMessage, models.HoldMessage;
schemas/match-message.schema.json, schemas/hold-message.schema.json), with the ids that make redeliveries publish once."""

from __future__ import annotations

import uuid
from typing import Iterable, Sequence

from hashmatch.clock import now
from hashmatch.messages.hashes import HashesMessage
from hashmatch.matching.assembly import KnownItemMatch
from hashmatch.messages.models import (
    HOLD_MESSAGE_TYPE,
    HOLD_MESSAGE_VERSION,
    MATCH_MESSAGE_TYPE,
    MATCH_MESSAGE_VERSION,
    MAX_MATCHES,
    MAX_SEGMENTS,
    MatchedMedia,
    MatchedUpload,
    MatchMessage,
    MatchTimes,
    HoldMessage,
    HoldTimes,
    ReferenceMatchEntry,
)
from hashmatch.matching.lookup import recommended_action as recommend
from hashmatch.matching.verdict import sampling_step
from hashmatch.vocabulary import Action, CannotCheckReason, Stage


def segments(timestamps: Sequence[float], gap: float) -> list[list[float]]:
    """Matched timestamps as [first, last] ranges: samples closer than `gap` join one range."""
    ranges: list[list[float]] = []
    for time in sorted(timestamps):
        if ranges and time - ranges[-1][1] <= gap:
            ranges[-1][1] = time
        else:
            ranges.append([time, time])
    return ranges


def recommended_action(matches: Sequence[KnownItemMatch]) -> Action:
    """Quarantine when any matched item asks for it, otherwise review (the lookup API's rule too)."""
    return recommend([m.item for m in matches])


# Match ids are UUIDs derived from what was matched, so that a redelivered upload gives the same id.
LIVE_MATCH_NAMESPACE = uuid.UUID("3b8f0c52-6a1d-5e47-8c93-1f2e4d5a6b7c")


def live_match_id(upload_id: str, reference_keys: Iterable[str]) -> str:
    """A live match's id: the upload (its version is in its id) and the references it matched, as retro-match's ids are
    made. A retried batch gives the same id whatever changed in the hash set meanwhile (the matcher publishes it once,
    by idempotency); only another set of matched references makes another match."""
    return str(uuid.uuid5(LIVE_MATCH_NAMESPACE, upload_id + "\n" + "\n".join(sorted(reference_keys))))


def hold_id(upload_id: str) -> str:
    """A hold's id: one per upload (its version is in its id), whatever is redelivered."""
    return str(uuid.uuid5(LIVE_MATCH_NAMESPACE, f"{upload_id}\nhold"))


def hold_message(request: HashesMessage, reason: CannotCheckReason, detail: str) -> HoldMessage:
    """The hold message for an upload that could not be checked: unchecked by the hasher, or hashed in part with no match."""
    upload, hashes = request.upload, request.hashes
    sha256 = request.unchecked.sha256 if request.unchecked is not None else hashes.sha256
    return HoldMessage(
        message_type=HOLD_MESSAGE_TYPE,
        message_version=HOLD_MESSAGE_VERSION,
        hold_id=hold_id(upload.upload_id),
        action="hold",
        upload=MatchedUpload(**upload.to_dict(), sha256=sha256, md5=hashes.md5 if hashes is not None else ""),
        reason=reason,
        detail=detail,
        media_kind=hashes.kind if hashes is not None else None,
        covered_seconds=round(hashes.covered_seconds, 3) if hashes is not None and hashes.covered_seconds is not None else None,
        duration=round(hashes.duration, 3) if hashes is not None else None,
        times=HoldTimes(uploaded_at=upload.uploaded_at, held_at=now()),
        uncovered=[[round(a, 3), round(b, 3)] for a, b in hashes.uncovered[:MAX_SEGMENTS]] if hashes is not None and hashes.uncovered else None,
    )


def _track_name(hashes, track: int) -> str | None:
    """How a match message names one of the upload's pictures, when it holds more than one."""
    if not hashes.tracks:
        return None
    described = next((t for t in hashes.tracks if t.index == track), None)
    return f"{described.source} {described.name}".strip() if described is not None else f"track {track}"


def match_message(request: HashesMessage, matches: Sequence[KnownItemMatch], match_id: str, retroactive: bool = False) -> MatchMessage:
    """Each match's threshold is its verdict's (what the deciding stage counted against: PDQ bits, inliers, 0 for a digest).
    `match_id`: live_match_id for the live matcher, retro_match_id for retro-match.

    Raises pydantic's ValidationError when the result would break the message's contract (no matches, say).
    """
    hashes = request.hashes
    pictures = request.detail_pictures.pictures if request.detail_pictures else ()
    # Two missed samples in a row still count as one stretch of matching video; the detail
    # pictures (local features) are sparser than the PDQ frames.
    gaps = {
        Stage.MD5: 0.0,
        Stage.SHA256: 0.0,
        Stage.PDQ: max(1.0, 2.5 * sampling_step(hashes.frames)),
        Stage.LOCAL_FEATURES: max(1.0, 2.5 * sampling_step(pictures)),
    }
    entries = []
    truncated = len(matches) > MAX_MATCHES
    for match in matches[:MAX_MATCHES]:
        verdict, reference = match.verdict, match.item
        gap = gaps[verdict.stage]
        query_ranges = segments(verdict.matched_query_timestamps, gap)
        reference_ranges = segments(verdict.matched_reference_timestamps, gap)
        truncated = truncated or len(query_ranges) > MAX_SEGMENTS or len(reference_ranges) > MAX_SEGMENTS
        entries.append(
            ReferenceMatchEntry(
                reference_id=reference.reference_id,
                label=reference.label,
                source=reference.source,
                action=reference.action,
                signal_type=verdict.stage,
                distance=verdict.best_distance,
                inliers=verdict.best_inliers,
                threshold=verdict.threshold,
                query_match_percent=verdict.query_match_percent,
                reference_match_percent=verdict.reference_match_percent,
                matched_query_frames=verdict.matched_query_frames,
                query_segments=query_ranges[:MAX_SEGMENTS],
                reference_segments=reference_ranges[:MAX_SEGMENTS],
                track=_track_name(hashes, match.track),
                rule=verdict.rule,
            )
        )
    upload = request.upload
    return MatchMessage(
        message_type=MATCH_MESSAGE_TYPE,
        message_version=MATCH_MESSAGE_VERSION,
        match_id=match_id,
        action=recommended_action(matches),
        upload=MatchedUpload(**upload.to_dict(), sha256=hashes.sha256, md5=hashes.md5),
        media=MatchedMedia(
            kind=hashes.kind,
            format=hashes.format,
            duration=round(hashes.duration, 3),
            width=hashes.width,
            height=hashes.height,
            frames_hashed=len(hashes.frames),
            usable_frames=len(hashes.usable_frames),
        ),
        matches=entries,
        matches_total=len(matches),
        truncated=truncated,
        times=MatchTimes(uploaded_at=upload.uploaded_at, hashed_at=request.hashed_at, matched_at=now()),
        retroactive=retroactive,
    )
