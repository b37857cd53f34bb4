"""Uploads through the pipeline's own decision, in one process: hashed as the Lambda hasher hashes them, checked as the matcher checks them.

`UploadPipeline.decide` runs the hasher's use case (usecases/hash_upload: hash_media with
Role.UPLOAD under the function's memory and time budget, detail pictures stored as JPEG) and the
matcher's (usecases/check_upload: the hash set's Matcher, PDQ then local features, and the holds),
with in-memory stand-ins for S3, SQS, SNS and DynamoDB. The hashes message goes between them as
JSON through its model, as over the queue. What comes out is what the stack would do with the
upload on its first delivery:

- matched: a match message published (a review match of a partial hash is held as well);
- held: a hold message published (unchecked media, hashing that failed on the bytes, or a partial
  hash that matched nothing);
- passed: nothing published, the upload left online: no match, rejected as not media, or an
  exception that escapes the use cases (reading the upload, the matcher's), which fails the
  delivery and leaves the upload online until a later delivery ends with an outcome.

The budget and the settings are the deployed ones, read from template.yaml (DeployedSettings). The
sampling secret, which a deployment generates (template.yaml: SamplingSecret) and no uploader knows,
is stood in for by a fixed one of the same length, not the public offline secret, so that runs
repeat and the constructions meet keyed sampling as they would in a stack.
"""

from __future__ import annotations

import hashlib
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Mapping, Sequence

from hashmatch.audit import AuditEvent, AuditTrail, ExemptionCovers, ExemptionScope, exemption_id, version_exemption_id
from hashmatch.clock import now
from hashmatch.errors import MediaError
from hashmatch.matching.assembly import HashSetVersion, hash_set_matcher, references_view
from hashmatch.matching.local_features.stage import LocalFeatureStage
from hashmatch.matching.matcher import DetailPictureLoader
from hashmatch.media.sniff import HEAD_BYTES, sniff
from hashmatch.messages.hashes import DetailPicturesObject, HashesMessage, Unchecked, hashes_message_of, pack_detail_pictures
from hashmatch.messages.models import HashesMessageModel, HoldMessage, MatchMessage
from hashmatch.model import EncodedDetailPicture, MediaHashes
from hashmatch.uploads import Upload
from hashmatch.usecases.check_upload import CheckOutcome, Checker, check_upload
from hashmatch.usecases.hash_upload import Budget, HashOutcome, Hasher, hash_upload
from hashmatch.usecases.ports import NoMetrics
from hashmatch.vocabulary import CannotCheckAction, RejectReason

BUCKET = "uploads"
# Stands in for a deployment's sampling secret (64 characters, as template.yaml's SamplingSecret generates): fixed, so that a
# run repeats, and not media/schedule.py's public DEFAULT_SAMPLING_SECRET, whose instants anyone can compute.
EVALUATION_SAMPLING_SECRET = b"hashmatch evaluation stand-in for a deployment's sampling secret"


class Decision(StrEnum):
    """What the pipeline does with an upload on its first delivery."""

    MATCHED = "matched"
    HELD = "held"
    PASSED = "passed"


@dataclass(frozen=True)
class DeployedSettings:
    """What the decision depends on, as deployed: the hasher's memory and time, the largest upload it reads and the
    secret its sampling is keyed by, the matcher's PDQ threshold and what it does with an upload it cannot check."""

    memory_mb: int
    timeout_seconds: float
    max_upload_bytes: int
    pdq_threshold: int
    cannot_check_action: CannotCheckAction
    sampling_secret: bytes = EVALUATION_SAMPLING_SECRET

    @classmethod
    def of_template(cls) -> "DeployedSettings":
        """template.yaml's HashUploadFunction and its parameters' defaults."""
        from hashmatch_tools.local.template import function_properties, load_template, parameter_values

        template = load_template()
        hasher = function_properties(template, "HashUploadFunction")
        parameters = parameter_values(template, {})
        return cls(
            memory_mb=int(hasher["MemorySize"]),
            timeout_seconds=float(hasher["Timeout"]),
            max_upload_bytes=int(parameters["MaxUploadBytes"]),
            pdq_threshold=int(parameters["PdqMatchThreshold"]),
            cannot_check_action=CannotCheckAction(parameters["CannotCheckAction"]),
        )


@dataclass(frozen=True)
class PipelineOutcome:
    """One upload's way through the pipeline."""

    decision: Decision
    hashing: HashOutcome | None  # None when the hasher raised
    checking: CheckOutcome | None  # None when nothing reached the matcher, or it raised
    references: tuple[str, ...] = ()  # what a match message named
    detail: str = ""  # why it was held, rejected, or what was raised
    hashes: MediaHashes | None = None  # as the matcher read them from the message
    seconds: float = 0.0
    evidence: tuple[str, ...] = ()  # per reference named, what the message says decided it (signal, rule, distance or inliers, frames)
    signals: tuple[str, ...] = ()  # per reference named, the signal that decided it (the message's signal_type: pdq, orb, md5, sha256)


@dataclass
class _Objects:
    """The uploads bucket and the detail-pictures bucket: bytes by key."""

    uploads: dict[str, bytes] = field(default_factory=dict)
    details: dict[str, bytes] = field(default_factory=dict)


class _UploadReader:
    def __init__(self, objects: _Objects):
        self.objects = objects

    def read(self, upload: Upload, max_bytes: int) -> tuple[bytes, Upload]:
        data = self.objects.uploads[upload.key]
        if len(data) > max_bytes:
            raise MediaError(RejectReason.OVERSIZED, f"{len(data)} bytes is over the limit of {max_bytes}", recognised=sniff(data[:HEAD_BYTES]) is not None)
        return data, upload.with_version(upload.version_id, hashlib.md5(data, usedforsecurity=False).hexdigest(), len(data))

    def digest(self, upload: Upload) -> tuple[str, Upload]:
        data = self.objects.uploads[upload.key]
        return hashlib.sha256(data).hexdigest(), upload.with_version(upload.version_id, None, len(data))


class _HashesQueue:
    """The hashes queue: each message as JSON-ready data, read back through its model as the matcher reads it."""

    def __init__(self) -> None:
        self.sent: list[HashesMessage] = []

    def _through_model(self, message: dict) -> dict:
        self.sent.append(hashes_message_of(HashesMessageModel.model_validate(message)))
        return message

    def send(self, upload: Upload, hashes: MediaHashes, detail_pictures: DetailPicturesObject | None = None) -> dict:
        return self._through_model(HashesMessage(upload, hashes, now(), detail_pictures).to_dict())

    def send_unchecked(self, upload: Upload, unchecked: Unchecked) -> dict:
        return self._through_model(HashesMessage(upload, None, now(), unchecked=unchecked).to_dict())


class _Attempts:
    def start(self, upload_id: str) -> int:
        return 0

    def end(self, upload_id: str) -> None:
        return None


class MemoryAuditTrail(AuditTrail):
    """Audit records in a dict, each written once; no exemptions unless granted."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], dict] = {}
        self.exemptions: dict[str, dict] = {}

    def record(self, upload_id: str, event: AuditEvent | str, **details) -> bool:
        key = (upload_id, str(event))
        if key in self.records:
            return False
        self.records[key] = {"upload_id": upload_id, "event": str(event), **details}
        return True

    def get(self, upload_id: str, event: AuditEvent | str) -> dict | None:
        return self.records.get((upload_id, str(event)))

    def events(self, upload_id: str) -> list[dict]:
        return [record for (owner, _event), record in self.records.items() if owner == upload_id]

    def exempt(
        self,
        sha256: str,
        *,
        reinstated: str,
        reason: str,
        requested_by: str,
        expires_at: str | None = None,
        scope: ExemptionScope | str = ExemptionScope.BYTES,
        bucket: str | None = None,
        key: str | None = None,
        covers: ExemptionCovers | str = ExemptionCovers.MATCHES,
        version: dict | None = None,
    ) -> bool:
        """Kept under the id the audit table uses (hashmatch.audit), so hashmatch.audit.find_exemption finds it; no expiry or revocation here."""
        scope = ExemptionScope(scope)
        if scope == ExemptionScope.VERSION:
            exempted = version_exemption_id(version["upload_id"], covers=covers)
            place = {"etag": version["etag"], "size": int(version["size"])}
        else:
            exempted = exemption_id(sha256, *((bucket, key) if scope == ExemptionScope.UPLOAD else ()), covers=covers)
            place = {}
        if exempted in self.exemptions:
            return False
        self.exemptions[exempted] = {"reinstated": reinstated, "reason": reason, "scope": scope.value, "covers": ExemptionCovers(covers).value, **place}
        return True

    def in_force(self, exempted: str, at: str | None = None) -> dict | None:
        return self.exemptions.get(exempted)


class _Publisher:
    def __init__(self) -> None:
        self.matches: list[MatchMessage] = []
        self.holds: list[HoldMessage] = []

    def publish_match(self, message: MatchMessage) -> str:
        self.matches.append(message)
        return f"match-{len(self.matches)}"

    def publish_hold(self, message: HoldMessage) -> str:
        self.holds.append(message)
        return f"hold-{len(self.holds)}"


class _NoUploadLog:
    def add(self, upload: Upload, hashes: MediaHashes, hashed_at: str, checked_at: str) -> None:
        return None


class _QuietLog:
    def info(self, message: str, **fields) -> None:
        return None

    def warning(self, message: str, **fields) -> None:
        return None

    def error(self, message: str, **fields) -> None:
        return None


class _FixedHashSet:
    """The hash set as a matcher holds it: one version, loaded once."""

    source = "snapshot"

    def __init__(self, version: HashSetVersion):
        self.version = version

    def get(self) -> HashSetVersion:
        return self.version


class UploadPipeline:
    """The hasher and the matcher over one hash set, with in-memory stand-ins for the AWS services between them."""

    def __init__(self, hash_set: HashSetVersion, settings: DeployedSettings | None = None):
        self.hash_set = hash_set
        self.settings = settings if settings is not None else DeployedSettings.of_template()
        self._uploads = 0

    @classmethod
    def of_references(cls, references: Mapping[str, MediaHashes], settings: DeployedSettings | None = None) -> "UploadPipeline":
        """Over media hashed in this process as references (hash_reference: PDQ frames and local features)."""
        settings = settings if settings is not None else DeployedSettings.of_template()
        view = references_view(references)
        matcher = hash_set_matcher(view, settings.pdq_threshold, [LocalFeatureStage.of_references(references)])
        return cls(HashSetVersion(view, matcher, 1), settings)

    def decide(self, data: bytes, name: str = "upload") -> PipelineOutcome:
        """Upload `data` (as object `name`) and follow it through the hasher and the matcher."""
        started = time.perf_counter()
        self._uploads += 1
        objects, queue, publisher, audit = _Objects(), _HashesQueue(), _Publisher(), MemoryAuditTrail()
        key = f"{self._uploads:06d}/{name}"
        objects.uploads[key] = data
        upload = Upload.from_object(BUCKET, key, "v1", size=len(data), uploaded_at=now())
        hasher = Hasher(
            uploads=_UploadReader(objects), store_detail_pictures=lambda sha256, pictures: _store(objects, sha256, pictures), matcher_queue=queue,
            attempts=_Attempts(), audit=audit, max_upload_bytes=self.settings.max_upload_bytes, log=_QuietLog(), metrics=NoMetrics(),
            sampling_secret=self.settings.sampling_secret,
        )
        budget = _budget(self.settings, started, len(data))
        try:
            hashing = hash_upload(upload, 1, hasher, budget)
        except Exception as error:  # noqa: BLE001 - a raising hasher fails the delivery: the upload stays online for now
            return PipelineOutcome(Decision.PASSED, None, None, detail=_raised("the hasher", error), seconds=time.perf_counter() - started)
        if not queue.sent:
            # Rejected as not media (or gone): recorded, nothing sent on, the upload left as it is.
            detail = next((r.get("detail", "") for r in audit.records.values() if r["event"] == AuditEvent.REJECTED), "")
            return PipelineOutcome(Decision.PASSED, hashing, None, detail=detail, seconds=time.perf_counter() - started)
        message = queue.sent[0]
        checker = Checker(
            hash_set=_FixedHashSet(self.hash_set), audit=audit, publisher=publisher, upload_log=_NoUploadLog(),
            detail_pictures=lambda stored: _loader(objects, stored), cannot_check_action=self.settings.cannot_check_action, log=_QuietLog(), metrics=NoMetrics(),
        )
        try:
            checking = check_upload(message, checker)
        except Exception as error:  # noqa: BLE001 - a raising matcher fails the delivery too
            return PipelineOutcome(Decision.PASSED, hashing, None, detail=_raised("the matcher", error), hashes=message.hashes, seconds=time.perf_counter() - started)
        references = tuple(entry.reference_id for match in publisher.matches for entry in match.matches)
        evidence = tuple(_evidence(entry) for match in publisher.matches for entry in match.matches)
        signals = tuple(str(entry.signal_type) for match in publisher.matches for entry in match.matches)
        if publisher.matches:
            decision, detail = Decision.MATCHED, ""
        elif publisher.holds:
            decision, detail = Decision.HELD, f"{publisher.holds[0].reason}: {publisher.holds[0].detail}"
        else:
            decision, detail = Decision.PASSED, ""
        return PipelineOutcome(decision, hashing, checking, references, detail, message.hashes, time.perf_counter() - started, evidence, signals)


def _evidence(entry) -> str:
    """One match message entry in a few words: the reference, its signal and rule, how close (PDQ bits or ORB inliers against the threshold), and the frames behind it."""
    measure = f"{entry.inliers} inliers (at least {entry.threshold})" if entry.inliers is not None else f"distance {entry.distance} (at most {entry.threshold})"
    rule = f", {entry.rule}" if entry.rule is not None else ""
    return (
        f"{entry.reference_id} ({entry.signal_type}{rule}: {measure}; {entry.matched_query_frames} upload frames, "
        f"{entry.query_match_percent:g} % of the upload, {entry.reference_match_percent:g} % of the reference)"
    )


def _budget(settings: DeployedSettings, started: float, size: int) -> Budget:
    """One invocation for one upload: the function's memory and its time, counted from the start of the delivery."""
    return Budget(settings.memory_mb, lambda: settings.timeout_seconds - (time.perf_counter() - started), 1, settings.max_upload_bytes)


def _store(objects: _Objects, sha256: str, pictures: Sequence[EncodedDetailPicture]) -> DetailPicturesObject | None:
    """As hashmatch.aws.detail_pictures stores them: one object, the JPEGs one after another, with each one's byte range."""
    if not pictures:
        return None
    body, stored = pack_detail_pictures(pictures)
    key = f"details/{sha256}.jpegs"
    objects.details[key] = body
    return DetailPicturesObject("details", key, stored)


def _loader(objects: _Objects, stored: DetailPicturesObject) -> DetailPictureLoader:
    def load() -> list[EncodedDetailPicture]:
        body = objects.details[stored.key]
        return [EncodedDetailPicture(p.timestamp, body[p.offset : p.offset + p.length], p.insets) for p in stored.pictures]

    return load


def _raised(where: str, error: Exception) -> str:
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
    return f"{where} raised {type(error).__name__}: {str(error)[:160]}{at} (the delivery fails; the upload stays online until a later one ends with an outcome)"
