"""What a matcher may believe of a hash set it is offered: the rules that keep a broken, forged or emptied snapshot out.

A snapshot reaches every matcher and the lookup API within seconds, bypassing the table's point-in-time
recovery, its stream and retro-match; so a new one is believed only when:
- it is signed by the hash set's signing key, and each object it names has the digests the manifest says
  (the adapters check both: hashmatch.aws.hash_set.signing and store);
- it is not a sharp shrink: a set whose items or quarantining items fall by more than SHARP_SHRINK against the
  most it held since an operator last accepted a shrink (its high-water mark) is not published by the indexer,
  and not adopted by a matcher against the set it holds, until an operator accepts it
  (`hashmatch admin hashset accept-shrink`). Removing a whole list on purpose is that operator's decision;
  a compromised role emptying the set is not.
Until a matcher can believe a new set, it serves the last one it believed (refresh_failure says for how long
without an alarm).
"""

from __future__ import annotations

from dataclasses import dataclass

from hashmatch.hash_set.snapshot import Census

# A fall of more than this share of the items (or of the quarantining items) is a sharp shrink.
SHARP_SHRINK = 0.25
# Sets smaller than this are not guarded: removing a few of a handful is no attack worth an operator's step.
GUARDED_FROM_ITEMS = 100


@dataclass(frozen=True)
class Shrink:
    """A sharp shrink: what fell, from how many to how many."""

    what: str
    before: int
    after: int

    def __str__(self) -> str:
        return f"{self.what} fell from {self.before} to {self.after} (more than {SHARP_SHRINK:.0%})"


def sharp_shrink(before: Census | None, after: Census) -> Shrink | None:
    """The sharp shrink from `before` to `after`, or None: each count may fall by at most SHARP_SHRINK of its value before."""
    if before is None or before.items < GUARDED_FROM_ITEMS:
        return None
    for what in ("items", "quarantine_items"):
        was, now = getattr(before, what), getattr(after, what)
        if was and now < was * (1 - SHARP_SHRINK):
            return Shrink(what.replace("_", " "), was, now)
    return None


def high_water(before: Census | None, after: Census) -> Census:
    """The most each count has been: what the next set is weighed against, so that a set emptied a little at a time is caught too."""
    if before is None:
        return after
    return Census(max(before.items, after.items), max(before.quarantine_items, after.quarantine_items))


# How long a matcher serves the set it holds while it cannot read or believe a newer one before it counts as stale
# (metric HashSetStaleSeconds, alarm HashSetStaleAlarm): the template's HashSetStalenessLimitSeconds.
DEFAULT_STALENESS_LIMIT_SECONDS = 600
