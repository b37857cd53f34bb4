"""The benchmarks live in one place (issue 26): every bench target of the Makefile runs a module of hashmatch_tools.bench with `python -m`."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import hashmatch_tools.bench

ROOT = Path(__file__).resolve().parents[2]
BENCH = Path(hashmatch_tools.bench.__file__).resolve().parent


def bench_recipes(makefile: str) -> dict[str, list[str]]:
    """The recipe lines (tab-indented, under the rule) of each bench target of a Makefile: `bench` and `bench-<anything>`."""
    recipes: dict[str, list[str]] = {}
    target = None
    for line in makefile.splitlines():
        if line.startswith("\t"):
            if target is not None:
                recipes[target].append(line.strip())
            continue
        rule = re.match(r"(bench(?:-[\w-]+)?)\s*:", line)
        target = rule.group(1) if rule else None
        if target is not None:
            recipes[target] = []
    return recipes


def test_every_makefile_bench_target_runs_a_module_under_hashmatch_tools_bench():
    recipes = bench_recipes((ROOT / "Makefile").read_text())
    assert recipes, "the Makefile has no bench target"
    for target, lines in recipes.items():
        modules = [module for line in lines for module in re.findall(r"-m\s+(hashmatch_tools\.bench\.\w+)", line)]
        assert len(modules) == 1, f"make {target} should run one python -m hashmatch_tools.bench.<name>, its recipe is {lines}"
        spec = importlib.util.find_spec(modules[0])
        assert spec is not None, f"make {target} runs {modules[0]}, which does not exist"
        assert Path(spec.origin).resolve().parent == BENCH, f"make {target} runs {modules[0]} from {spec.origin}, not from {BENCH}"
