"""Each function with its layers, as `sam build` makes them, fits Lambda's 250 MB unzipped limit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashmatch.aws.local_stack import function_properties, load_template

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
