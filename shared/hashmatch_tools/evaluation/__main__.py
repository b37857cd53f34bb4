"""`python -m hashmatch_tools.evaluation`: build the robustness suite (cached) and report recall and false positives."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hashmatch_tools.evaluation.evaluate import evaluate_kind, plot, report
from hashmatch_tools.evaluation.layout_negatives import BEGIN as LAYOUT_BEGIN, END as LAYOUT_END
from hashmatch_tools.evaluation.segments import kept_section
from hashmatch_tools.evaluation.suite import SuiteBuilder

ROOT = Path(__file__).resolve().parents[3]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.evaluation", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "robustness", help="where the suite is built (kept between runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where robustness.md and robustness-distances.png go")
    parser.add_argument("--quick", action="store_true", help="a small subset, for a smoke run")
    args = parser.parse_args(argv)
    if not (args.corpus / "SOURCES.md").is_file():
        print(f"hashmatch evaluation: error: no corpus at {args.corpus}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    folder = args.cache / ("quick" if args.quick else "full")
    entries = SuiteBuilder(args.corpus, folder, quick=args.quick).build()
    results = [evaluate_kind(folder, entries, kind) for kind in ("image", "video")]
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "robustness-distances.png")
    command = "make evaluate" if not args.quick else "python -m hashmatch_tools.evaluation --quick"
    text = report(results, command, time.perf_counter() - started)
    # The sections other commands write (evaluation/segments.py, evaluation/layout_negatives.py) are kept as they stand.
    kept = [kept_section(args.out / "robustness.md"), kept_section(args.out / "robustness.md", LAYOUT_BEGIN, LAYOUT_END)]
    (args.out / "robustness.md").write_text(text + "".join("\n" + section + "\n" for section in kept if section))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
