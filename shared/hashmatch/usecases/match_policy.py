"""What each source's policy and flood protection make of an upload's matches, before they are published (live and retro alike).

Per-source policy. Each source (an exchange, an imported list, an operator's references) may have
its own action (what its matches recommend: quarantine or review) and its own PDQ distance (the
most bits apart a frame may be to count for it, within the deployment's threshold, 0 to 31). A
known item listed by several sources keeps a match when one of them accepts it: the match is
decided again on the frames within the most lenient accepting distance, and its action is the
strongest of the accepting sources' (a source without a policy action contributes the action its
items were stored with). In retro-match, which keeps no frame matches, a source's distance is
held against the match's nearest frame.

Flood protection. One listed hash that suddenly matches many uploads is more likely a bad entry
(a blank frame, a logo) than a wave of re-uploads, and with quarantine it would take them all
down. So every published match counts its upload against the item, per window of
`FloodLimit.window_minutes`; once an item has matched more than `FloodLimit.matches` uploads in a
window it is switched: its matches recommend review, an alarm goes out naming the item and why,
and it stays so until an operator confirms the item (`hashmatch admin flood confirm`), after which
it is never switched again. Counting is per upload (a redelivered upload counts once) and per
fixed window, so a burst across a window's edge may reach twice the limit before it switches.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, Sequence

from hashmatch.hash_set.snapshot import KnownItem
from hashmatch.matching.assembly import KnownItemMatch
from hashmatch.matching.matcher import MatchResult
from hashmatch.matching.verdict import decide, sampling_step
from hashmatch.model import MediaHashes
from hashmatch.vocabulary import Action, Stage, strongest

SOURCES_SEPARATOR = ", "  # how a known item listed by several sources names them (the snapshot's groups)


@dataclass(frozen=True)
class SourcePolicy:
    """A source's own action and PDQ distance (None: as its items were stored; the deployment's threshold)."""

    source: str
    action: Action | None = None
    pdq_distance: int | None = None

    def accepts(self, distance: int | None) -> bool:
        return self.pdq_distance is None or distance is None or distance <= self.pdq_distance


@dataclass(frozen=True)
class FloodLimit:
    """More than `matches` uploads matched by one item within a window of `window_minutes` switches it to review."""

    matches: int
    window_minutes: int


@dataclass(frozen=True)
class FloodState:
    """One item's count in the current window (this upload included) and its switch, if it has been switched."""

    matches: int
    switched_at: str | None = None
    confirmed_by: str | None = None

    @property
    def in_review(self) -> bool:
        return self.switched_at is not None and self.confirmed_by is None


@dataclass(frozen=True)
class FloodSwitch:
    """An item switched to review by this upload's match: which, and why (what the alarm and the operator see)."""

    key: str
    source: str
    matches: int
    limit: FloodLimit
    upload_id: str

    @property
    def reason(self) -> str:
        return f"matched {self.matches} uploads within {self.limit.window_minutes} minutes, more than {self.limit.matches}: its matches recommend review until an operator confirms it"


class MatchPolicy(Protocol):
    """The sources' policies and the flood counters (hashmatch.aws.match_policy.MatchPolicyTable)."""

    flood_limit: FloodLimit | None  # None: no flood protection

    def source_policy(self, source: str) -> SourcePolicy | None: ...

    def count_match(self, key: str, upload_id: str) -> FloodState:
        """Count this upload against the item in the current window (once per upload), with the item's switch."""

    def switch(self, switched: FloodSwitch, item: KnownItem) -> bool:
        """Record the switch (once: True for the call that made it) and raise the alarm."""


class NoPolicy:
    """No source policies and no flood protection (the CLI, tests, a stack without the policy table)."""

    flood_limit = None

    def source_policy(self, source: str) -> SourcePolicy | None:
        return None

    def count_match(self, key: str, upload_id: str) -> FloodState:
        return FloodState(0)

    def switch(self, switched: FloodSwitch, item: KnownItem) -> bool:
        return False


NO_POLICY = NoPolicy()


def sources_of(item: KnownItem) -> list[str]:
    return item.source.split(SOURCES_SEPARATOR) if item.is_entry else [item.source]


def by_source_policy(matches: Sequence[KnownItemMatch], policy: MatchPolicy, result: MatchResult | None = None, upload: MediaHashes | None = None) -> list[KnownItemMatch]:
    """The matches the sources' policies keep, each with the action they give it.

    With the matcher's result and the upload (live), a PDQ match is decided again on its frames
    within the most lenient accepting source's distance; without them (retro), the distance is
    held against its nearest frame.
    """
    kept = []
    for match in matches:
        item, verdict = match.item, match.verdict
        policies = [policy.source_policy(source) or SourcePolicy(source) for source in sources_of(item)]
        if verdict.stage == Stage.PDQ and any(p.pdq_distance is not None for p in policies):
            limit = max(verdict.threshold if p.pdq_distance is None else p.pdq_distance for p in policies)
            behind = result.frame_matches.get(item.key) if result is not None else None
            if behind is not None and upload is not None:
                near = [frame for frame in behind if frame.distance is not None and frame.distance <= limit]
                verdict = decide(upload.usable_frames, near, item.duration, stage=Stage.PDQ, threshold=min(limit, verdict.threshold), query_step=sampling_step(upload.frames))
            if not verdict.match or (verdict.best_distance is not None and verdict.best_distance > limit):
                continue
        accepting = [p for p in policies if p.accepts(verdict.best_distance)]
        action = strongest(p.action if p.action is not None else item.action for p in accepting) if any(p.action is not None for p in accepting) else item.action
        kept.append(KnownItemMatch(replace(item, action=action) if action != item.action else item, verdict))
    return kept


def flood_guarded(matches: Sequence[KnownItemMatch], upload_id: str, policy: MatchPolicy) -> tuple[list[KnownItemMatch], list[FloodSwitch]]:
    """Count this upload against each matched item; items in review (switched now or before, not confirmed) recommend review.

    Returns the matches as they are to be published and the switches this upload made.
    """
    limit = policy.flood_limit
    if limit is None:
        return list(matches), []
    guarded, switched = [], []
    for match in matches:
        item = match.item
        state = policy.count_match(item.key, upload_id)
        in_review = state.in_review
        if state.switched_at is None and state.matches > limit.matches:
            made = FloodSwitch(item.key, item.source, state.matches, limit, upload_id)
            if policy.switch(made, item):
                switched.append(made)
            in_review = True  # switched now, by this call or a concurrent one
        guarded.append(KnownItemMatch(replace(item, action=Action.REVIEW), match.verdict) if in_review and item.action != Action.REVIEW else match)
    return guarded, switched
