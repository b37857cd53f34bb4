"""The Lambda packages: each function with its layers fits the 250 MB unzipped limit, and carries no development code."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from hashmatch_tools.local.template import function_properties, load_template

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("HASHMATCH_SAM_BUILD_DIR", ROOT / ".aws-sam" / "build"))
# Function code and all its layers, unzipped: 250 MB as AWS counts it.
LAMBDA_UNZIPPED_LIMIT = 262_144_000
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = sorted(name for name, resource in TEMPLATE["Resources"].items() if resource["Type"] == "AWS::Serverless::Function")


def size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_and_its_layers_fit_the_unzipped_limit(function):
    if not (BUILD / "template.yaml").is_file():
        pytest.skip(f"no sam build output at {BUILD} (make sam-build, or set HASHMATCH_SAM_BUILD_DIR)")
    built = load_template(BUILD / "template.yaml")
    properties = function_properties(built, function)
    parts = [BUILD / properties["CodeUri"]]
    for layer in properties.get("Layers", []):
        parts.append(BUILD / built["Resources"][layer["Ref"]]["Properties"]["ContentUri"])

    total = sum(size(part) for part in parts)

    assert total <= LAMBDA_UNZIPPED_LIMIT, f"{function}: {total / 1e6:.1f} MB"


# What operators and developers run, never a function: the CLI, the evaluation, the local stack.
DEVELOPMENT_ONLY = {"hashmatch_tools", "moto", "yaml", "cfnlint", "matplotlib", "pytest", "jsonschema"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_shared_layer_carries_no_development_code():
    package = (ROOT / "layers" / "shared" / "hashmatch").resolve()
    offenders = {str(path.relative_to(package)): sorted(imported_modules(path) & DEVELOPMENT_ONLY) for path in package.rglob("*.py")}

    assert {path: names for path, names in offenders.items() if names} == {}
    assert not (ROOT / "layers" / "shared" / "hashmatch_tools").exists()


def test_the_built_shared_layer_holds_the_deployed_package_only():
    layer = BUILD / "SharedLayer" / "python"
    if not layer.is_dir():
        pytest.skip(f"no sam build output at {BUILD} (make sam-build, or set HASHMATCH_SAM_BUILD_DIR)")
    built = {path.relative_to(layer / "hashmatch").as_posix() for path in (layer / "hashmatch").rglob("*.py")}
    source = {path.relative_to(ROOT / "shared" / "hashmatch").as_posix() for path in (ROOT / "shared" / "hashmatch").rglob("*.py")}

    assert not (layer / "hashmatch_tools").exists()
    assert built == source
