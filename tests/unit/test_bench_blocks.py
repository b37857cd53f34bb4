"""Generated blocks: a benchmark rewrites only the text between its marks, stamped with its date, commit and machine."""

from __future__ import annotations

import datetime

import pytest

from hashmatch_tools.bench.blocks import MissingMarks, Provenance, commit_of, has_block, machine, marks, replace_block, write_block, write_headline

PROVENANCE = Provenance(datetime.datetime(2026, 12, 7, 1, 2, tzinfo=datetime.timezone.utc), "abc1234", "a test machine, 2 cores", 3.5)


def test_a_block_is_rewritten_between_its_marks_and_the_text_around_it_is_kept():
    start, end = marks("make bench")
    text = f"# Title\n\nprose before\n\n{start}\nold figures\n{end}\n\nprose after\n"
    assert replace_block(text, "make bench", "new figures") == f"# Title\n\nprose before\n\n{start}\nnew figures\n{end}\n\nprose after\n"


def test_rewriting_a_block_twice_with_the_same_body_changes_nothing():
    once = replace_block("intro\n", "make bench-retro", "figures")
    assert replace_block(once, "make bench-retro", "figures") == once


def test_blocks_of_different_names_in_one_document_are_rewritten_independently():
    text = replace_block(replace_block("", "make bench", "A"), "make bench: headline", "B")
    text = replace_block(text, "make bench", "C")
    assert "C" in text and "B" in text and "A" not in text


def test_a_document_without_the_block_gets_it_at_its_end():
    text = replace_block("# Title\n\nprose\n", "make bench-index", "figures")
    assert text.startswith("# Title\n\nprose\n\n") and has_block(text, "make bench-index") and text.endswith(f"{marks('make bench-index')[1]}\n")


def test_a_start_mark_without_its_end_mark_is_an_error_not_a_silent_append():
    with pytest.raises(MissingMarks):
        replace_block(f"{marks('make bench')[0]}\nfigures\n", "make bench", "new")


def test_a_headline_block_is_written_only_where_its_marks_already_are(tmp_path):
    start, end = marks("make bench: headline")
    with_marks, without = tmp_path / "README.md", tmp_path / "other.md"
    with_marks.write_text(f"intro\n{start}\n{end}\n")
    without.write_text("no marks here\n")
    written = write_headline("make bench: headline", "upload hashing 3.1x faster", PROVENANCE, "make bench", [with_marks, without, tmp_path / "missing.md"])
    assert written == [with_marks]
    assert "upload hashing 3.1x faster" in with_marks.read_text() and without.read_text() == "no marks here\n"


def test_a_written_block_starts_with_the_command_date_commit_and_machine(tmp_path):
    path = tmp_path / "doc.md"
    write_block(path, "make bench", "| a | b |", PROVENANCE, "make bench", title="Hashing")
    text = path.read_text()
    assert text.startswith("# Hashing\n")
    stamp = text.split(marks("make bench")[0] + "\n", 1)[1].splitlines()[0]
    for part in ("`make bench`", "2026-12-07 01:02 UTC", "commit abc1234", "a test machine, 2 cores", "load average 3.5 at the start"):
        assert part in stamp


def test_the_commit_of_this_checkout_is_a_short_hash_or_says_it_has_uncommitted_changes():
    commit = commit_of()
    assert commit.split()[0].isalnum() and (commit == commit.split()[0] or commit.endswith("+ uncommitted changes") or commit.startswith("unknown"))


def test_the_machine_names_its_cores_and_python():
    assert " cores" in machine() and "Python 3." in machine()
