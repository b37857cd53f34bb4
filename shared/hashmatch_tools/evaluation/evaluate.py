"""Score the matcher on the robustness suite: recall per alteration, false positives, distributions, cost."""

from __future__ import annotations

import datetime
import platform
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hashmatch.hash_set.brute_force import HashIndex
from hashmatch.matching.local_features.orb import MIN_INLIERS, features_of_detail_picture
from hashmatch_tools.matching import two_stage_matcher
from hashmatch.signals.pdq import PDQ_CONFIDENT_MATCH_THRESHOLD
from hashmatch.matching.matcher import Matcher
from hashmatch.media.hashing import hash_media
from hashmatch.model import MediaHashes
from hashmatch.signals import PRIMARY_SIGNAL
from hashmatch_tools.evaluation.suite import LAYOUT_ALTERATIONS, Entry
from hashmatch_tools.matching import detail_pictures_of, hash_reference
from hashmatch.vocabulary import Stage

STAGES = ("pdq", "pdq+orb")


@dataclass
class Outcome:
    entry: Entry
    matched: dict[str, set[str]]  # stage -> references matched
    signal: str = ""


@dataclass
class KindResults:
    kind: str
    references: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    same_distances: list[int] = field(default_factory=list)
    different_distances: list[int] = field(default_factory=list)
    positive_inliers: list[int] = field(default_factory=list)
    negative_inliers: list[int] = field(default_factory=list)
    hashing_seconds: dict[str, float] = field(default_factory=lambda: {"PDQ only": 0.0, "with detail pictures": 0.0})
    media_seconds: float = 0.0
    lookup_seconds: dict[str, float] = field(default_factory=lambda: {stage: 0.0 for stage in STAGES})

    def recall(self, stage: str) -> dict[str, tuple[int, int]]:
        table: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for outcome in self.outcomes:
            if outcome.entry.alteration == "negative":
                continue
            row = table[outcome.entry.alteration]
            row[1] += 1
            row[0] += outcome.entry.content in outcome.matched[stage]
        return {name: (hit, total) for name, (hit, total) in table.items()}

    def false_positives(self, stage: str) -> list[tuple[Entry, str]]:
        return [(o.entry, ref) for o in self.outcomes for ref in sorted(o.matched[stage]) if ref != o.entry.content]

    def negative_pairs(self) -> int:
        return sum(len(self.references) - (o.entry.content in self.references) for o in self.outcomes)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _best_distances(query: MediaHashes, index: HashIndex, owner: np.ndarray, own: str | None, names: list[str]) -> tuple[list[int], list[int]]:
    """Per usable query frame: best PDQ distance (any variant) to its own reference, and to any other."""
    same, different = [], []
    own_mask = owner == names.index(own) if own in names else np.zeros(len(owner), bool)
    for frame in query.usable_frames:
        matrix = index.distances(frame.query_hashes).min(axis=0)
        if own_mask.any():
            same.append(int(matrix[own_mask].min()))
        if (~own_mask).any():
            different.append(int(matrix[~own_mask].min()))
    return same, different


def evaluate_kind(folder: Path, entries: list[Entry], kind: str) -> KindResults:
    references = {e.content: e for e in entries if e.kind == kind and e.alteration == "reference"}
    queries = [e for e in entries if e.kind == kind and e.alteration != "reference"]
    results = KindResults(kind, sorted(references))
    hashed: dict[str, MediaHashes] = {}
    for name, entry in references.items():
        _progress(f"  hashing {kind} reference {name}")
        hashed[name] = hash_reference(folder / entry.path)
    hashes, owner = [], []
    for name, reference in hashed.items():
        frames = reference.usable_frames
        hashes.extend(f.pdq for f in frames)
        owner.extend([results.references.index(name)] * len(frames))
    distance_index, owner_array = HashIndex(hashes), np.array(owner)
    # The production Matcher, and its first stage alone for the "pdq" column.
    matcher = two_stage_matcher(hashed, PDQ_CONFIDENT_MATCH_THRESHOLD)
    pdq_only = Matcher(matcher.durations, [matcher.stage(Stage.PDQ)])
    feature_index = matcher.stage(Stage.LOCAL_FEATURES).index
    for position, entry in enumerate(queries, 1):
        _progress(f"  [{position}/{len(queries)}] {kind} {entry.content} / {entry.alteration}")
        path = folder / entry.path
        started = time.perf_counter()
        plain = hash_media(path, keep_detail_pictures=False)
        results.hashing_seconds["PDQ only"] += time.perf_counter() - started
        started = time.perf_counter()
        query = hash_media(path)
        results.hashing_seconds["with detail pictures"] += time.perf_counter() - started
        results.media_seconds += max(query.duration, 0.0)
        matched = {}
        started = time.perf_counter()
        first = pdq_only.match(plain)
        results.lookup_seconds["pdq"] += time.perf_counter() - started
        matched["pdq"] = {name for name, _verdict in first.matches}
        started = time.perf_counter()
        # The detail pictures go through JPEG, as the hasher stores them for the Lambda matcher.
        both = matcher.match(query, detail_pictures_of(query))
        results.lookup_seconds["pdq+orb"] += time.perf_counter() - started
        matched["pdq+orb"] = {name for name, _verdict in both.matches}
        signal = ",".join(sorted({str(verdict.stage) for _name, verdict in both.matches}))
        results.outcomes.append(Outcome(entry, matched, signal))
        own = entry.content if entry.content in references else None
        same, different = _best_distances(plain, distance_index, owner_array, own, results.references)
        results.same_distances.extend(same)
        results.different_distances.extend(different)
        # Inliers of the best candidate per query frame, whatever the threshold: the distributions behind MIN_INLIERS.
        for frame in map(features_of_detail_picture, detail_pictures_of(query)()):
            for hit in feature_index.search(frame.features, min_inliers=0):
                (results.positive_inliers if hit.reference == own else results.negative_inliers).append(hit.inliers)
    return results


def _percent(hit: int, total: int) -> str:
    return f"{hit / total:.2f} ({hit}/{total})" if total else "-"


def report(results: list[KindResults], command: str, seconds: float) -> str:
    lines = [
        "# Robustness evaluation",
        "",
        f"Run on {datetime.date.today().isoformat()} on {platform.machine()} ({platform.python_version()}), "
        f"{seconds / 60:.1f} min, with `{command}`. The suite is made from `../shared/corpus` by "
        "`shared/hashmatch_tools/evaluation/suite.py`; every query is matched against all references of its kind "
        "at once, as the matcher does. `pdq` is the first stage alone (PDQ frame hashes with mirror and "
        "rotation variants, border removal and inner-picture detection); `pdq+orb` adds the local-feature "
        "second stage, which runs only when the first matches nothing, and the PDQ of layout parts before it (matching/layouts.py: "
        "each side of a split, the quarters, the ninths of the upload's detail pictures). The layouts at several sizes "
        "(issue 27: split screens, collages, insets, thumbnails; alterations.py) are totalled apart from the edits before them. A false positive is any match to a "
        "reference of other content. Upload hashing times are with and without keeping the detail pictures; "
        "the pdq+orb lookup includes their JPEG round trip and local features, as in the Lambda matcher.",
        "",
    ]
    for kind_results in results:
        before, after = kind_results.recall("pdq"), kind_results.recall("pdq+orb")
        lines += [f"## {kind_results.kind.capitalize()}s", "", f"References: {', '.join(kind_results.references)}.", ""]
        lines += ["| alteration | recall, pdq | recall, pdq+orb |", "|---|---|---|"]
        # The layouts at several sizes (issue 27) get their own totals, after the edits the figures were first given for.
        edits = [name for name in before if name not in LAYOUT_ALTERATIONS]
        layouts = [name for name in before if name in LAYOUT_ALTERATIONS]

        def total(recall: dict, names: list[str]) -> list[int]:
            return [sum(recall[name][i] for name in names) for i in (0, 1)]

        for name in edits:
            lines.append(f"| {name} | {_percent(*before[name])} | {_percent(*after[name])} |")
        lines.append(f"| **all** | **{_percent(*total(before, edits))}** | **{_percent(*total(after, edits))}** |")
        if layouts:
            for name in layouts:
                lines.append(f"| {name} | {_percent(*before[name])} | {_percent(*after[name])} |")
            for label, names in (
                ("split screens", [n for n in layouts if n.startswith("split ")]),
                ("collages", [n for n in layouts if "collage" in n]),
                ("split screens and collages", [n for n in layouts if n.startswith("split ") or "collage" in n]),
                ("insets and thumbnails", [n for n in layouts if n.startswith(("inset", "thumbnail"))]),
                ("all layouts", layouts),
            ):
                if names:
                    lines.append(f"| **{label}** | **{_percent(*total(before, names))}** | **{_percent(*total(after, names))}** |")
        negatives = sum(o.entry.alteration == "negative" for o in kind_results.outcomes)
        lines += [
            "",
            f"Negative pairs (query, reference of other content): {kind_results.negative_pairs()} "
            f"({negatives} unrelated {kind_results.kind}s among the queries).",
            "",
        ]
        for stage in STAGES:
            wrong = kind_results.false_positives(stage)
            lines.append(f"False positives, {stage}: {len(wrong)}" + (": " + "; ".join(f"{e.path} -> {ref}" for e, ref in wrong) if wrong else ""))
        same, different = np.array(kind_results.same_distances), np.array(kind_results.different_distances)
        positive, negative = np.array(kind_results.positive_inliers or [0]), np.array(kind_results.negative_inliers or [0])
        media_minutes = kind_results.media_seconds / 60 if kind_results.media_seconds else None
        queries = max(1, len(kind_results.outcomes))
        lines += [
            "",
            "| measure | value |",
            "|---|---|",
            f"| PDQ best distance per query frame, same content (median / 90th pct.) | {np.median(same):.0f} / {np.percentile(same, 90):.0f} bits |" if same.size else "| PDQ same content | - |",
            f"| PDQ best distance per query frame, other content (min / 1st pct.) | {different.min():.0f} / {np.percentile(different, 1):.0f} bits |" if different.size else "| PDQ other content | - |",
            f"| ORB inliers of the best candidate, own reference (median) | {np.median(positive):.0f} |",
            f"| ORB inliers of any candidate, other content (max / 99th pct.) | {negative.max():.0f} / {np.percentile(negative, 99):.0f} (threshold {MIN_INLIERS}) |",
        ]
        for label, value in kind_results.hashing_seconds.items():
            if media_minutes:
                lines.append(f"| upload hashing {label} | {value / media_minutes:.2f} s per minute of video |")
            else:
                lines.append(f"| upload hashing {label} | {1000 * value / queries:.0f} ms per image |")
        for stage, value in kind_results.lookup_seconds.items():
            lines.append(f"| lookup, {stage} | {1000 * value / queries:.0f} ms per query |")
        lines.append("")
    lines += ["![PDQ distances of same vs other content](robustness-distances.png)", ""]
    return "\n".join(lines)


def plot(results: list[KindResults], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    bins = np.arange(0, 257, 4)
    for axis, kind_results in zip(axes[0], results):
        axis.hist(kind_results.same_distances, bins=bins, alpha=0.6, label="same content (own reference)")
        axis.hist(kind_results.different_distances, bins=bins, alpha=0.6, label="other content (best other reference)")
        axis.axvline(PRIMARY_SIGNAL.match_threshold, color="black", linestyle="--", label=f"threshold {PRIMARY_SIGNAL.match_threshold}")
        axis.set_title(f"{kind_results.kind}s: best PDQ distance per query frame")
        axis.set_xlabel("Hamming distance (bits of 256)")
        axis.set_ylabel("query frames")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
