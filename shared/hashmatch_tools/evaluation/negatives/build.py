"""Building the corpus folder: the packages fetched, their pictures chosen and written, the videos made, each step's manifest beside it.

The folder (by default .cache/negatives, never committed):

    debs/                        the .deb files as apt-get download fetched them
    licences/<package>.copyright each package's copyright file
    pictures/<package>/<sha>.*   the pictures, byte for byte as the package holds them
    pictures.csv                 one row a picture: package, version, licence, split, use, size, SHA-256, PDQ, where it came from, why it is withheld
    videos/<part>/<nnnn>.*       the negative videos of each part; videos/reference/ the reference videos
    videos.csv                   one row a video: split, use, recipe (encoder, rate, size, seconds), its pictures, why it is withheld
    summary.json                 counts per part and per package, what the independence rule withheld, and the time each step took

The independence rule (independence.py) only marks rows: a withheld package's pictures keep their place
in the de-duplication and in the videos' grouping, so applying it to a built corpus changes no other
picture, video or reference (`build` applies it from the kept copyright files, without downloading).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

from hashmatch_tools.evaluation.negatives.corpus import build_pictures, excluded_hashes, read_manifest, taken, write_manifest
from hashmatch_tools.evaluation.negatives.debian import fetch
from hashmatch_tools.evaluation.negatives.independence import mark_pictures, video_reason, withheld_packages
from hashmatch_tools.evaluation.negatives.packages import ALL_PACKAGES, NEGATIVE_PACKAGES, REFERENCE_PACKAGES, Package, Part
from hashmatch_tools.evaluation.negatives.videos import Recipe, encode, groups, negative_recipe, reference_recipe

VIDEO_FIELDS = ("path", "split", "use", "encoder", "rate", "width", "height", "seconds", "frames", "pictures", "packages", "withheld")
# Pictures per negative video (drawn in turn), and per reference video.
NEGATIVE_VIDEO_PICTURES = (1, 2, 3)
REFERENCE_VIDEO_PICTURES = (3,)


def build_corpus_pictures(folder: Path, team_corpus: Path, processes: int) -> dict:
    started = time.perf_counter()
    fetched = [fetch(package, folder / "debs") for package in ALL_PACKAGES]
    fetched_seconds = time.perf_counter() - started
    excluded = excluded_hashes(team_corpus) if team_corpus.is_dir() else []
    rows, reports = build_pictures(fetched, excluded, folder, processes)
    write_manifest(rows, folder / "pictures.csv")
    return {
        "download_bytes": sum(item.path.stat().st_size for item in fetched),
        "excluded_hashes": len(excluded),
        "seconds": {"download": round(fetched_seconds, 1), "pictures": round(time.perf_counter() - started - fetched_seconds, 1)},
        "packages": {r.name: {"version": r.version, "licence": r.licence, **dict(r.outcomes)} for r in reports},
    }


def apply_independence(folder: Path, negatives: tuple[Package, ...] = NEGATIVE_PACKAGES, references: tuple[Package, ...] = REFERENCE_PACKAGES) -> dict:
    """Mark the pictures of every negative package the independence rule withholds (from the copyright files in licences/), in pictures.csv."""
    withheld = withheld_packages(folder / "licences", negatives, references)
    rows = mark_pictures(read_manifest(folder / "pictures.csv"), withheld)
    write_manifest(rows, folder / "pictures.csv")
    for package, reason in withheld.items():
        print(f"negatives: {package} withheld: {reason}", flush=True)
    return {"withheld": withheld, "pictures_withheld": sum(1 for row in rows if not taken(row))}


def _make(job: tuple[Recipe, str]) -> tuple[str, int]:
    recipe, path = job
    target = Path(path)
    if not target.exists():
        partial = target.with_name(target.name + ".partial")
        frames = encode(recipe, partial)
        partial.rename(target)
        return path, frames
    return path, -1


def video_jobs(folder: Path, rows: list[dict]) -> list[tuple[Recipe, dict]]:
    """Every video's recipe and its manifest row, negatives of each part first, then the references, in a fixed order.

    Withheld pictures are grouped like the others (so that no other video changes) and withhold the videos they are in."""
    jobs = []
    for part in (Part.TUNING, Part.EVALUATION, Part.REFERENCE):
        sources = [row for row in rows if row["split"] == part and row["use"] == "video"]
        sizes = REFERENCE_VIDEO_PICTURES if part == Part.REFERENCE else NEGATIVE_VIDEO_PICTURES
        make = reference_recipe if part == Part.REFERENCE else negative_recipe
        for number, group in enumerate(groups(sources, sizes, str(part))):
            recipe = make([folder / row["path"] for row in group], [row["sha256"] for row in group])
            relative = Path("videos") / str(part) / f"{number:04d}.{recipe.suffix}"
            jobs.append((recipe, {
                "path": str(relative), "split": str(part), "use": "reference" if part == Part.REFERENCE else "negative", "encoder": recipe.encoder,
                "rate": str(recipe.rate), "width": recipe.size[0], "height": recipe.size[1], "seconds": round(recipe.seconds, 2), "frames": "",
                "pictures": " ".join(row["sha256"][:16] for row in group), "packages": " ".join(sorted({row["package"] for row in group})),
                "withheld": video_reason(group),
            }))
    return jobs


def build_videos(folder: Path, processes: int, parts: tuple[str, ...] = (Part.TUNING, Part.EVALUATION), limit: int | None = None) -> dict:
    """Make the videos of these parts that are not made yet (a rerun only finishes what is missing); `limit`: at most so many per part."""
    started = time.perf_counter()
    rows = read_manifest(folder / "pictures.csv")
    jobs = video_jobs(folder, rows)
    chosen, per_part = [], Counter()
    for recipe, row in jobs:
        if row["split"] in parts and (limit is None or per_part[row["split"]] < limit):
            per_part[row["split"]] += 1
            chosen.append((recipe, row))
    for part in parts:
        (folder / "videos" / str(part)).mkdir(parents=True, exist_ok=True)
    made = 0
    with Pool(processes) as workers:
        for path, frames in workers.imap(_make, [(recipe, str(folder / row["path"])) for recipe, row in chosen]):
            made += frames >= 0
            if made and made % 25 == 0 and frames >= 0:
                print(f"negatives: {made} videos made ({time.perf_counter() - started:.0f} s)", flush=True)
    manifest = [row for _recipe, row in jobs if (folder / row["path"]).exists()]
    write_manifest(manifest, folder / "videos.csv", VIDEO_FIELDS)
    return {"videos_made": made, "seconds": round(time.perf_counter() - started, 1), "videos": dict(Counter(f"{row['split']}" for row in manifest))}


def summarise(folder: Path, steps: dict) -> dict:
    pictures = read_manifest(folder / "pictures.csv")
    videos = read_manifest(folder / "videos.csv") if (folder / "videos.csv").exists() else []
    summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").exists() else {}
    summary.update(steps)
    withheld_pictures, withheld_videos = [row for row in pictures if not taken(row)], [row for row in videos if not taken(row)]
    pictures, videos = [row for row in pictures if taken(row)], [row for row in videos if taken(row)]
    summary["pictures"] = dict(sorted(Counter(f"{row['split']}/{row['use']}" for row in pictures).items()))
    summary["videos"] = dict(sorted(Counter(row["split"] for row in videos).items()))
    summary["video_seconds"] = {part: round(sum(float(row["seconds"]) for row in videos if row["split"] == part), 1) for part in summary["videos"]}
    summary["by_category"] = dict(sorted(Counter(f"{row['split']}/{row['category']}" for row in pictures).items()))
    # What the independence rule withheld, never silently: each package with the credits found, and the counts it took out.
    summary["withheld"] = {
        "packages": {row["package"]: row["withheld"] for row in withheld_pictures},
        "pictures": dict(sorted(Counter(f"{row['split']}/{row['use']}" for row in withheld_pictures).items())),
        "videos": dict(sorted(Counter(row["split"] for row in withheld_videos).items())),
        "video_seconds": {part: round(sum(float(row["seconds"]) for row in withheld_videos if row["split"] == part), 1) for part in sorted({r["split"] for r in withheld_videos})},
    }
    if (folder / "summary.json").is_symlink():
        (folder / "summary.json").unlink()  # another corpus's summary, linked: write this folder's own
    (folder / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def default_processes() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def _shortened(licences: str, room: int = 100) -> str:
    """A package's licence list cut after a whole licence once it passes `room` characters (the copyright file has the rest)."""
    cut = licences.rfind("; ", 0, room)
    return licences if len(licences) <= room else (licences[:cut] if cut > 0 else licences[:room]) + "; ..."


def corpus_table(folder: Path, summary: dict) -> str:
    """The corpus as Markdown: per package its version, licences, part and pictures kept (stills and video sources),
    then per part the stills, videos and their seconds."""
    everything = read_manifest(folder / "pictures.csv")
    kept = Counter((row["package"], row["use"]) for row in everything)
    parts = {row["package"]: row["split"] for row in everything}
    by_content = {row["package"] for row in everything if row["split"] != parts[row["package"]]}
    withheld = {row["package"] for row in everything if not taken(row)}
    pictures = [row for row in everything if taken(row)]
    lines = ["| package | version | category | part | stills | video pictures | licences (its copyright file) |", "|---|---|---|---|---|---|---|"]
    for package in ALL_PACKAGES:
        found = summary.get("pictures_step", {}).get("packages", {}).get(package.name, {})
        part = "by content" if package.name in by_content else parts.get(package.name, str(package.part))
        part = f"**withheld** (was {part})" if package.name in withheld else part
        lines.append(
            f"| {package.name} | {found.get('version', package.version)} | {package.category} | {part} | {kept[(package.name, 'still')]} | "
            f"{kept[(package.name, 'video')]} | {_shortened(found.get('licence', '').replace('|', '/'))} |"
        )
    all_videos = read_manifest(folder / "videos.csv") if (folder / "videos.csv").exists() else []
    videos = [row for row in all_videos if taken(row)]
    lines += ["", "| part | pictures (stills) | pictures in videos | videos | video seconds |", "|---|---|---|---|---|"]
    rows = [(str(part), pictures, videos, part) for part in (Part.TUNING, Part.EVALUATION, Part.REFERENCE)]
    rows += [(f"withheld (of {part})", [r for r in everything if not taken(r)], [r for r in all_videos if not taken(r)], part) for part in (Part.TUNING, Part.EVALUATION)]
    for label, chosen, moving, part in rows:
        mine = [row for row in moving if row["split"] == part]
        stills, in_videos = sum(1 for r in chosen if r["split"] == part and r["use"] == "still"), sum(1 for r in chosen if r["split"] == part and r["use"] == "video")
        if label.startswith("withheld") and not (stills or in_videos or mine):
            continue
        lines.append(f"| {label} | {stills:,} | {in_videos:,} | {len(mine):,} | {sum(float(r['seconds']) for r in mine):,.0f} |")
    return "\n".join(lines) + "\n"
