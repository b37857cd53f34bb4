"""The corpus's independence rule: no negative package shares an upstream project or artist with the reference set.

Each reference package declares the projects and artists its pictures come from (packages.py,
`Package.carries`). A negative package whose copyright file credits any of them is withheld: its
pictures stay in the corpus's ordered de-duplication (so nothing else kept or dropped changes) and
in the manifest, marked with the credits found, but they are no negatives, and neither is any video
made with one of them. The rule reads copyright files only, never what the matcher matched.

A negative package whose copyright file is missing or empty is withheld too: its provenance cannot
be checked, and an unchecked package is no evidence of independence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hashmatch_tools.evaluation.negatives.packages import NEGATIVE_PACKAGES, REFERENCE_PACKAGES, Package


@dataclass(frozen=True)
class Credit:
    """A declared source of a reference package, credited in a negative package's copyright file."""

    source: str
    reference_package: str
    times: int  # how often the copyright file names it

    def __str__(self) -> str:
        return f"{self.source} ({self.reference_package}, {self.times}x)"


NO_COPYRIGHT = "no copyright file to check"


def shared_credits(copyright_text: str, references: tuple[Package, ...] = REFERENCE_PACKAGES) -> list[Credit]:
    """The reference packages' declared sources that this copyright file credits, in the declaration's order."""
    found = []
    for package in references:
        for source in package.carries:
            times = len(re.findall(source.pattern, copyright_text, flags=re.IGNORECASE))
            if times:
                found.append(Credit(source.name, package.name, times))
    return found


def withholding_reason(copyright_text: str | None, references: tuple[Package, ...] = REFERENCE_PACKAGES) -> str:
    """Why a negative package with this copyright file is withheld, or "" when it is independent of the references."""
    if not copyright_text or not copyright_text.strip():
        return NO_COPYRIGHT
    credits = shared_credits(copyright_text, references)
    return "credits " + "; ".join(str(credit) for credit in credits) if credits else ""


def withheld_packages(licences: Path, negatives: tuple[Package, ...] = NEGATIVE_PACKAGES, references: tuple[Package, ...] = REFERENCE_PACKAGES) -> dict[str, str]:
    """Each negative package withheld by the rule, with its reason, from the copyright files kept in `licences` (<package>.copyright)."""
    withheld = {}
    for package in negatives:
        path = licences / f"{package.name}.copyright"
        reason = withholding_reason(path.read_text(errors="replace") if path.exists() else None, references)
        if reason:
            withheld[package.name] = reason
    return withheld


def mark_pictures(rows: list[dict], withheld: dict[str, str]) -> list[dict]:
    """The manifest rows with `withheld` set (the package's reason) on every picture of a withheld package, and cleared on the others."""
    return [{**row, "withheld": withheld.get(row["package"], "")} for row in rows]


def video_reason(pictures: list[dict]) -> str:
    """A video is withheld when any of its pictures is: it would show that picture."""
    packages = sorted({row["package"] for row in pictures if row.get("withheld")})
    return f"shows pictures of withheld {', '.join(packages)}" if packages else ""
