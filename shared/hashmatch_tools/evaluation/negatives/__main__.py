"""`python -m hashmatch_tools.evaluation.negatives`: build the negative corpus, the reference hash set, and run the false-positive evaluation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hashmatch_tools.evaluation.negatives.build import apply_independence, build_corpus_pictures, build_videos, corpus_table, default_processes, summarise
from hashmatch_tools.evaluation.negatives.packages import Part

ROOT = Path(__file__).resolve().parents[4]
DEFAULT_FOLDER = ROOT / ".cache" / "negatives"
TEAM_CORPUS = ROOT.parent / "shared" / "corpus"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.evaluation.negatives", description=__doc__)
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER, help="where the corpus is built and kept (default .cache/negatives)")
    parser.add_argument("--processes", type=int, default=default_processes())
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser(
        "build", help="fetch the packages, choose and write the pictures, apply the independence rule, make the negative videos (each step but the rule skipped when done)"
    )
    build.add_argument("--team-corpus", type=Path, default=TEAM_CORPUS, help="no negative comes within the PDQ threshold of its hashes")
    build.add_argument("--again", action="store_true", help="choose the pictures again even when pictures.csv is there")
    build.add_argument("--video-limit", type=int, default=None, help="at most this many videos per part (a quick run)")
    evaluate = commands.add_parser("evaluate", help="every upload of a part through the pipeline against the reference hash set (built first when missing)")
    evaluate.add_argument("--part", choices=[str(Part.EVALUATION), str(Part.TUNING)], default=str(Part.EVALUATION))
    evaluate.add_argument("--reference-frames", type=int, default=100_000, help="make reference videos until the hash set holds this many PDQ frames")
    evaluate.add_argument("--limit", type=int, default=None, help="at most this many pictures and this many videos (a quick run)")
    evaluate.add_argument("--out", type=Path, default=None, help="also write the report to this Markdown file")
    evaluate.add_argument("--robustness-suite", type=Path, default=ROOT / ".cache" / "robustness" / "full", help="the robustness suite (make evaluate builds it); its references join the hash set")
    positives = commands.add_parser("positives", help="recall on altered copies of a seeded sample of the reference hash set's stills and videos (the set as evaluate left it, never written)")
    positives.add_argument("--stills", type=int, default=None, help="still references sampled (default positives.STILLS)")
    positives.add_argument("--videos", type=int, default=None, help="reference videos sampled (default positives.VIDEOS)")
    positives.add_argument("--seed", type=int, default=None, help="the sample's seed (default positives.SEED)")
    positives.add_argument("--limit", type=int, default=None, help="at most this many of the sampled stills and of the videos (a quick run)")
    positives.add_argument("--work", type=Path, default=ROOT / ".cache" / "positives", help="where the altered copies are made and kept (default .cache/positives)")
    positives.add_argument("--team-corpus", type=Path, default=TEAM_CORPUS, help="the suite's unrelated photographs for composites come from it")
    positives.add_argument("--out", type=Path, default=None, help="also write the report to this Markdown file")
    args = parser.parse_args(argv)
    folder = args.folder
    folder.mkdir(parents=True, exist_ok=True)
    if args.command == "build":
        steps = {}
        if args.again or not (folder / "pictures.csv").exists():
            steps["pictures_step"] = build_corpus_pictures(folder, args.team_corpus, args.processes)
        # Always applied, from the copyright files kept in licences/: cheap, and a changed declaration takes effect on a built corpus.
        steps["independence_step"] = apply_independence(folder)
        videos_step = build_videos(folder, args.processes, limit=args.video_limit)
        if videos_step["videos_made"] or not (folder / "summary.json").exists():
            steps["videos_step"] = videos_step  # a rerun that made nothing keeps the record of the run that made them
        summary = summarise(folder, steps)
        print(json.dumps({key: summary[key] for key in ("pictures", "videos", "video_seconds", "withheld")}, indent=1))
        print(corpus_table(folder, summary))
        return 0
    if args.command == "positives":
        from hashmatch_tools.evaluation.negatives import positives as measured

        args.stills = measured.STILLS if args.stills is None else args.stills
        args.videos = measured.VIDEOS if args.videos is None else args.videos
        args.seed = measured.SEED if args.seed is None else args.seed
        return measured.run(folder, args)
    from hashmatch_tools.evaluation.negatives.false_positives import run

    return run(folder, args)


if __name__ == "__main__":
    sys.exit(main())
