"""docs/operations.md: every alarm of template.yaml has a runbook entry saying what it means and what to do, with a command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hashmatch_tools.local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
ALARMS = sorted(name for name, resource in load_template(ROOT / "template.yaml")["Resources"].items() if resource["Type"] == "AWS::CloudWatch::Alarm")


def entries() -> dict[str, str]:
    """Each alarm heading's entry: the text after it up to the next entry's first heading (headings in a row share one)."""
    text = (ROOT / "docs" / "operations.md").read_text()
    found, pending = {}, []
    for block in re.split(r"^(### \S+)\n", text, flags=re.MULTILINE)[1:]:
        if block.startswith("### "):
            pending.append(block[4:].strip())
            continue
        for name in pending:
            found[name] = block
        pending = [] if block.strip() else pending
    return found


@pytest.mark.parametrize("alarm", ALARMS)
def test_every_alarm_has_a_runbook_entry_with_what_it_means_and_what_to_do(alarm):
    entry = entries().get(alarm, "")

    assert "- Means:" in entry and "- Do:" in entry, f"docs/operations.md has no entry for {alarm}"
    assert "`" in entry.split("- Do:", 1)[1], f"{alarm}'s entry names no command"


def test_the_runbook_names_no_alarm_the_template_lacks():
    assert set(entries()) <= set(ALARMS)


def test_the_runbook_commands_name_only_outputs_and_functions_the_template_has():
    template = load_template(ROOT / "template.yaml")
    text = (ROOT / "docs" / "operations.md").read_text()
    outputs = set(re.findall(r"\$\(out (\w+)\)", text))
    functions = set(re.findall(r"(?:\$\(fn|\blogs) ([A-Z]\w+)", text))

    assert outputs and functions
    assert outputs <= set(template["Outputs"]), outputs - set(template["Outputs"])
    assert functions <= set(template["Resources"]), functions - set(template["Resources"])
