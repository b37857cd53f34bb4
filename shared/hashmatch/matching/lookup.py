"""The hash lookup API's core: a lookup request read and checked, answered per hash against the matcher's hash set, and who may see labels.

A request names hashes, not media: {"pdq": [...], "md5": [...], "sha256": [...]}, a PDQ hash as
64 hex digits or as {"hash": "<64 hex>", "quality": 0-100}. Each hash is answered on its own,
as `hashmatch match --hashes` answers raw hashes: a PDQ hash matches when some reference frame
or list entry of the hash set is within the matcher's threshold, a digest when a list entry has
it. The search is the matcher's own PDQ stage and digest tables (Matcher.stage), so an answer
is what the matcher would find for a frame with that hash; allowed entries are not in them.

Raw hashes come without quality. A PDQ hash sent with a quality below PDQ_MIN_QUALITY is not
searched (the matcher ignores such frames, which hash unstably) and says so; one sent without
a quality is searched, as list entries and `hashmatch match --hashes` are.

What an answer shows depends on the caller: everyone learns whether a hash matches and the
recommended action; only a role named in the labels roles of the stack's own account learns
the distance, labels, sources and reference ids. The distance is held back from the others
on purpose: it is a gradient that would let a caller tune an edit until it just escapes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable, Mapping, Sequence

from hashmatch.matching.matcher import Matcher
from hashmatch.signals.pdq import PDQ_MIN_QUALITY
from hashmatch.hash_set.snapshot import KnownItem
from hashmatch.vocabulary import Action, Stage, strongest

# Hashes per request (of all kinds together): a video's frames at the upload sampling (one per
# 2 s) fit for about three minutes; longer media go in several requests (`hashmatch check` splits).
MAX_HASHES_PER_REQUEST = 100
# Reference ids a labels reader gets per matched hash, nearest first (a PDQ hash of a plain frame
# can be near thousands of list entries).
MAX_REFERENCES_PER_HASH = 10
FIELDS = {"pdq": 64, "md5": 32, "sha256": 64}
_HEX = {name: re.compile(rf"[0-9a-f]{{{digits}}}") for name, digits in FIELDS.items()}


class LookupRequestError(ValueError):
    """A request the API refuses (400), with every problem found, each naming its field."""

    def __init__(self, problems: Sequence[str]):
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class PdqQuery:
    hash: str
    quality: int | None = None  # None: not sent (searched as usable)

    @property
    def usable(self) -> bool:
        return self.quality is None or self.quality >= PDQ_MIN_QUALITY

    def to_json(self) -> str | dict:
        return self.hash if self.quality is None else {"hash": self.hash, "quality": self.quality}


@dataclass(frozen=True)
class LookupRequest:
    pdq: tuple[PdqQuery, ...] = ()
    md5: tuple[str, ...] = ()
    sha256: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Hashes asked about: what the request costs a caller's budget."""
        return len(self.pdq) + len(self.md5) + len(self.sha256)

    def to_dict(self) -> dict:
        """The request body (fields without hashes left out)."""
        body = {"pdq": [query.to_json() for query in self.pdq], "md5": list(self.md5), "sha256": list(self.sha256)}
        return {name: values for name, values in body.items() if values}

    def split(self, limit: int = MAX_HASHES_PER_REQUEST) -> list["LookupRequest"]:
        """Requests of at most `limit` hashes each, in order (PDQ first, then MD5, then SHA-256)."""
        tagged = [("pdq", query) for query in self.pdq] + [("md5", d) for d in self.md5] + [("sha256", d) for d in self.sha256]
        parts = []
        for start in range(0, len(tagged), limit):
            chunk = tagged[start : start + limit]
            parts.append(LookupRequest(*(tuple(value for kind, value in chunk if kind == name) for name in FIELDS)))
        return parts


def _hex(value, name: str, where: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not _HEX[name].fullmatch(value.strip().lower()):
        problems.append(f"{where}: expected {FIELDS[name]} hex digits, got {json.dumps(value)[:80]}")
        return None
    return value.strip().lower()


def _pdq_query(value, where: str, problems: list[str]) -> PdqQuery | None:
    if isinstance(value, dict):
        unknown = set(value) - {"hash", "quality"}
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a PDQ hash is a string or {{\"hash\", \"quality\"}})")
            return None
        quality = value.get("quality")
        if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 100):
            problems.append(f"{where}.quality: expected an integer from 0 to 100, got {json.dumps(quality)[:40]}")
            return None
        found = _hex(value.get("hash"), "pdq", f"{where}.hash", problems)
        return PdqQuery(found, quality) if found is not None else None
    found = _hex(value, "pdq", where, problems)
    return PdqQuery(found) if found is not None else None


def parse_request(body: str | bytes | Mapping, limit: int = MAX_HASHES_PER_REQUEST) -> LookupRequest:
    """A request body (JSON text or parsed) as a LookupRequest; LookupRequestError naming every bad field otherwise."""
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise LookupRequestError([f"body: not JSON ({error})"]) from None
    if not isinstance(body, Mapping):
        raise LookupRequestError(['body: expected a JSON object {"pdq": [...], "md5": [...], "sha256": [...]}'])
    problems: list[str] = []
    unknown = set(body) - set(FIELDS)
    if unknown:
        problems.append(f"body: unknown field(s) {', '.join(sorted(map(str, unknown)))} (known: pdq, md5, sha256)")
    parsed: dict[str, tuple] = {}
    for name in FIELDS:
        values = body.get(name, [])
        if not isinstance(values, list):
            problems.append(f"{name}: expected a list of hashes")
            continue
        if name == "pdq":
            found = [_pdq_query(value, f"pdq[{n}]", problems) for n, value in enumerate(values)]
        else:
            found = [_hex(value, name, f"{name}[{n}]", problems) for n, value in enumerate(values)]
        parsed[name] = tuple(value for value in found if value is not None)
    total = sum(len(body.get(name, [])) for name in FIELDS if isinstance(body.get(name, []), list))
    if total == 0 and not problems:
        problems.append("body: no hashes (give pdq, md5 and/or sha256 lists)")
    if total > limit:
        problems.append(f"body: {total} hashes; at most {limit} per request")
    if problems:
        raise LookupRequestError(problems)
    return LookupRequest(**parsed)


# ---------------------------------------------------------------- answers


def recommended_action(references: Iterable[KnownItem]) -> Action:
    """Quarantine when any matched reference asks for it, otherwise review (the match message's rule too)."""
    return strongest(reference.action for reference in references)


@dataclass(frozen=True)
class HashAnswer:
    signal_type: Stage
    hash: str
    distance: int | None = None  # the nearest match's (0 for a digest); None: no match
    references: tuple[tuple[int, KnownItem], ...] = ()  # (distance, reference), nearest first
    low_quality: bool = False  # a PDQ hash sent with a quality too low to search

    @property
    def match(self) -> bool:
        return bool(self.references)

    def to_dict(self, with_labels: bool) -> dict:
        shown: dict = {"hash": self.hash, "match": self.match}
        if self.low_quality:
            shown["low_quality"] = True
        if not self.match:
            return shown
        shown["action"] = str(recommended_action(reference for _, reference in self.references))
        if with_labels:
            shown["distance"] = self.distance
            shown["labels"] = sorted({label for _, reference in self.references for label in reference.labels})
            shown["sources"] = sorted({reference.source for _, reference in self.references})
            shown["reference_ids"] = [reference.reference_id for _, reference in self.references[:MAX_REFERENCES_PER_HASH]]
            shown["references_total"] = len(self.references)
        return shown


@dataclass(frozen=True)
class LookupAnswer:
    answers: Mapping[Stage, list[HashAnswer]] = field(default_factory=dict)
    threshold: int = 0  # the PDQ threshold the matcher uses

    def to_dict(self, with_labels: bool) -> dict:
        body = {str(stage): [answer.to_dict(with_labels) for answer in found] for stage, found in self.answers.items()}
        return {**body, "pdq_threshold": self.threshold, "labels_shown": with_labels}


def _nearest_first(found: Mapping[Hashable, int], describe: Callable[[Hashable], KnownItem]) -> tuple[tuple[int, KnownItem], ...]:
    ranked = sorted(found.items(), key=lambda pair: (pair[1], str(pair[0])))
    return tuple((distance, describe(key)) for key, distance in ranked)


def look_up(request: LookupRequest, matcher: Matcher, describe: Callable[[Hashable], KnownItem]) -> LookupAnswer:
    """Each hash against the matcher's stages: PDQ hashes in one search of its PDQ index, digests in its digest tables.

    `describe` is what a match to a key reports (HashSetVersion.reference). Every reference within
    the threshold is kept per hash, with its nearest distance, nearest first.
    """
    pdq_stage = matcher.stage(Stage.PDQ)
    threshold = pdq_stage.threshold if pdq_stage is not None else 0
    usable = [(position, query) for position, query in enumerate(request.pdq) if query.usable]
    near: list[dict[Hashable, int]] = [{} for _ in request.pdq]
    if usable and pdq_stage is not None and len(pdq_stage.index):
        # Each hash is a still query frame whose timestamp is its position in the request.
        found = pdq_stage.index.search([(float(position), [query.hash]) for position, query in usable], threshold)
        for key, frame_matches in found.items():
            for frame_match in frame_matches:
                at = near[int(frame_match.query_timestamp)]
                at[key] = min(at.get(key, frame_match.distance), frame_match.distance)
    answers: dict[Stage, list[HashAnswer]] = {Stage.PDQ: []}
    for query, found in zip(request.pdq, near):
        references = _nearest_first(found, describe)
        answers[Stage.PDQ].append(HashAnswer(Stage.PDQ, query.hash, references[0][0] if references else None, references, not query.usable))
    for stage, digests in ((Stage.MD5, request.md5), (Stage.SHA256, request.sha256)):
        digest_stage = matcher.stage(stage)
        entries = digest_stage.entries if digest_stage is not None else {}
        answers[stage] = []
        for digest in digests:
            key = entries.get(digest)
            references = ((0, describe(key)),) if key is not None else ()
            answers[stage].append(HashAnswer(stage, digest, 0 if references else None, references))
    return LookupAnswer(answers, threshold)
