"""The layers keep their places: the core (and its use cases) import no AWS SDK, and each Lambda handler only wires.

Read from the source's import statements, followed through the hashmatch modules they name, so that a use
case reaching boto3 through another core module fails here too.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "shared" / "hashmatch"
# What the core must never reach: the AWS SDK, the Lambda toolkit, the adapters, the tools.
FORBIDDEN = ("boto3", "botocore", "aws_lambda_powertools", "hashmatch.aws", "hashmatch_tools")
HANDLER_MAX_LINES = 50


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT / "shared").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_of(module: str) -> Path | None:
    base = ROOT / "shared" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module this one imports, anywhere in it (deferred imports too)."""
    found = set()
    for node in ast.walk(ast.parse(source_of(module).read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if source_of(f"{node.module}.{alias.name}"))
    return frozenset(found)


def reached_from(module: str) -> dict[str, str]:
    """Every module reachable from this one through hashmatch imports, with the module that imports it."""
    reached, todo = {module: ""}, [module]
    while todo:
        current = todo.pop()
        for name in imports_of(current):
            if name in reached:
                continue
            reached[name] = current
            if name.startswith("hashmatch.") and not name.startswith(FORBIDDEN) and source_of(name):
                todo.append(name)
    return reached


CORE_MODULES = sorted(module_name(path) for path in CORE.rglob("*.py") if "aws" not in path.relative_to(CORE).parts)


@pytest.mark.parametrize("module", [m for m in CORE_MODULES if m.startswith("hashmatch.usecases")])
def test_a_use_case_reaches_no_aws_sdk_adapter_or_tool(module):
    bad = {name: by for name, by in reached_from(module).items() if name.startswith(FORBIDDEN)}

    assert bad == {}, f"{module} reaches {', '.join(f'{name} (imported by {by})' for name, by in sorted(bad.items()))}"


def test_no_core_module_imports_the_aws_sdk_an_adapter_or_a_tool():
    bad = {module: sorted(name for name in imports_of(module) if name.startswith(FORBIDDEN)) for module in CORE_MODULES}

    assert {module: names for module, names in bad.items() if names} == {}


@pytest.mark.parametrize("handler", sorted((ROOT / "functions").glob("*/app.py")), ids=lambda path: path.parent.name)
def test_each_handler_is_fifty_lines_or_fewer(handler):
    assert len(handler.read_text().splitlines()) <= HANDLER_MAX_LINES
