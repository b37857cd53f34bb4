"""The message schemas in schemas/, generated from the pydantic models that define the messages (hashmatch.messages.models).

    python -m hashmatch_tools.schemas           say what differs and exit 1 when schemas/ is not what the models generate
    python -m hashmatch_tools.schemas --write   write what the models generate into schemas/

Each file is its model's model_json_schema() (JSON Schema draft 2020-12, validation mode: what the
model accepts) with $schema, $id and a title added; the description is the model's docstring, and
the fields' descriptions are their Field(description=...). tests/unit/test_messages.py fails when
schemas/ is stale, so a change to a model is a change to its schema in the same commit.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema

from hashmatch.messages.models import HashesMessageModel, HoldMessage, MatchMessage, RestoreRequestBody

DIRECTORY = Path(__file__).resolve().parents[2] / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

# File name: the model and the schema's title.
SCHEMAS: dict[str, tuple[type[BaseModel], str]] = {
    "hashes-message.schema.json": (HashesMessageModel, "hashmatch hashes message"),
    "match-message.schema.json": (MatchMessage, "hashmatch match message"),
    "hold-message.schema.json": (HoldMessage, "hashmatch hold message"),
    "restore-request.schema.json": (RestoreRequestBody, "hashmatch restore request"),
}


class _Generator(GenerateJsonSchema):
    """pydantic's generator without the titles it makes of field names ("Upload Id"): a field's name says it already."""

    def field_title_should_be_set(self, schema) -> bool:
        return False


def schema_id(file_name: str) -> str:
    """The schema's $id: a name, not a place to fetch it from (the file is in the repository, versioned with the code)."""
    return f"urn:hashmatch:schema:{file_name.removesuffix('.schema.json')}"


def _one_line_descriptions(schema):
    """Descriptions taken from docstrings, their line breaks made spaces: a description is a paragraph, wrapped by whoever shows it."""
    if isinstance(schema, dict):
        return {key: " ".join(value.split()) if key == "description" and isinstance(value, str) else _one_line_descriptions(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_one_line_descriptions(item) for item in schema]
    return schema


def schema_of(file_name: str) -> dict:
    """The schema for `file_name`, as its model generates it."""
    model, title = SCHEMAS[file_name]
    generated = _one_line_descriptions(model.model_json_schema(schema_generator=_Generator))
    generated.pop("title", None)
    description = generated.pop("description", None)
    if not description:
        raise ValueError(f"{model.__name__} has no docstring: it is the schema's description")
    definitions = generated.pop("$defs", None)
    # The message's own shape first, the objects it refers to last.
    return {"$schema": DRAFT, "$id": schema_id(file_name), "title": title, "description": description, **generated, **({"$defs": definitions} if definitions else {})}


def schema_text(file_name: str) -> str:
    return json.dumps(schema_of(file_name), indent=2, ensure_ascii=False) + "\n"


def differences(directory: Path = DIRECTORY) -> dict[str, list[str]]:
    """Each stale file of `directory` and how it differs from what its model generates (a unified diff; a missing file differs from nothing).
    A schema file no model generates is stale too."""
    stale: dict[str, list[str]] = {}
    for file_name in SCHEMAS:
        path = directory / file_name
        expected = schema_text(file_name)
        found = path.read_text() if path.is_file() else ""
        if found != expected:
            stale[file_name] = list(difflib.unified_diff(found.splitlines(keepends=True), expected.splitlines(keepends=True), f"{path} (as it is)", f"{path} (as the model generates it)"))
    for path in sorted(directory.glob("*.schema.json")):
        if path.name not in SCHEMAS:
            stale[path.name] = [f"{path}: no model generates it (hashmatch_tools.schemas.SCHEMAS)\n"]
    return stale


def write(directory: Path = DIRECTORY) -> list[str]:
    """Write every schema that differs from what its model generates; returns the names written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for file_name in SCHEMAS:
        path = directory / file_name
        text = schema_text(file_name)
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)
            written.append(file_name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hashmatch_tools.schemas", description="Check schemas/ against what the message models generate, or --write it.")
    parser.add_argument("--write", action="store_true", help="write what the models generate into the directory")
    parser.add_argument("--directory", type=Path, default=DIRECTORY, help=f"the schemas directory (default: {DIRECTORY})")
    arguments = parser.parse_args(argv)
    if arguments.write:
        written = write(arguments.directory)
        print(f"wrote {', '.join(written)}" if written else f"{arguments.directory} is what the models generate: nothing to write")
        extra = [name for name in differences(arguments.directory) if name not in SCHEMAS]
        for name in extra:
            print(f"{arguments.directory / name}: no model generates it; left in place", file=sys.stderr)
        return 1 if extra else 0
    stale = differences(arguments.directory)
    for lines in stale.values():
        sys.stdout.writelines(lines)
    if stale:
        print(f"{len(stale)} schema(s) in {arguments.directory} differ from what the models generate: {', '.join(stale)}; "
              "regenerate them with python -m hashmatch_tools.schemas --write", file=sys.stderr)
        return 1
    print(f"{arguments.directory}: the {len(SCHEMAS)} schemas are what the models generate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
