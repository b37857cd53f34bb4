"""The negative corpus's independence rule: a negative package whose copyright file credits a source a reference package declares is withheld, never silently."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hashmatch_tools.evaluation.negatives.build import apply_independence, summarise, video_jobs
from hashmatch_tools.evaluation.negatives.corpus import read_manifest, taken, write_manifest
from hashmatch_tools.evaluation.negatives.false_positives import withheld_note
from hashmatch_tools.evaluation.negatives.independence import NO_COPYRIGHT, mark_pictures, shared_credits, withheld_packages, withholding_reason
from hashmatch_tools.evaluation.negatives.packages import REFERENCE_PACKAGES, Package, Part, Source

# A made reference package, so that the rule is tested on its own and not on the declared table's contents.
GAME = Package("some-game-data", "1.0-1", "texture", Part.REFERENCE, carries=(
    Source("Some Game", r"\bSome ?Game\b", "the game's own textures"),
    Source("Painter", r"\bPainter\b|\bPaintwell\b", "an artist's texture set"),
))
REFERENCES = (GAME,)

MACHINE_READABLE = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Other Game

Files: *
Copyright: 2010, The Other Game Team
License: GPL-2+
"""


def credited(files: str) -> str:
    return MACHINE_READABLE + files


def test_a_copyright_file_crediting_a_reference_game_withholds_the_package():
    text = credited("\nFiles: textures/wall*.jpg\nCopyright: Some Game GPLed Data\nLicense: GPL-2+\n")

    assert withholding_reason(text, REFERENCES) == "credits Some Game (some-game-data, 1x)"


def test_a_copyright_file_crediting_a_reference_artist_withholds_the_package():
    text = credited('\nFiles: textures/tex_p/*\nCopyright: Jo "Painter" Paintwell\nLicense: CC-BY-SA-3.0\n')

    assert withholding_reason(text, REFERENCES) == "credits Painter (some-game-data, 2x)"


def test_every_declared_source_credited_is_named_with_its_reference_package():
    text = credited("\nFiles: a/*\nCopyright: Some Game\nLicense: GPL-2+\n\nFiles: b/*\nCopyright: Painter\nLicense: GPL-2+\n")

    assert [(credit.source, credit.reference_package) for credit in shared_credits(text, REFERENCES)] == [("Some Game", "some-game-data"), ("Painter", "some-game-data")]


def test_a_copyright_file_crediting_no_declared_source_keeps_the_package():
    assert withholding_reason(MACHINE_READABLE, REFERENCES) == ""


def test_a_declared_name_inside_a_longer_word_is_no_credit():
    text = credited("\nFiles: textures/tex_painter/painterly.png textures/somegames.png\nCopyright: 2011, The Other Game Team\nLicense: GPL-2+\n")

    assert withholding_reason(text, REFERENCES) == ""


def test_a_package_without_a_copyright_file_to_check_is_withheld():
    assert withholding_reason(None, REFERENCES) == NO_COPYRIGHT
    assert withholding_reason("  \n", REFERENCES) == NO_COPYRIGHT


def test_the_withheld_packages_are_read_from_the_kept_copyright_files(tmp_path):
    negatives = (Package("independent-data", "1", "photo", Part.EVALUATION), Package("borrowing-data", "1", "texture", Part.EVALUATION))
    (tmp_path / "independent-data.copyright").write_text(MACHINE_READABLE)
    (tmp_path / "borrowing-data.copyright").write_text(credited("\nFiles: *\nCopyright: Some Game\nLicense: GPL-2+\n"))

    assert withheld_packages(tmp_path, negatives, REFERENCES) == {"borrowing-data": "credits Some Game (some-game-data, 1x)"}


def test_each_declared_source_of_the_reference_packages_finds_its_own_name():
    sources = [source for package in REFERENCE_PACKAGES for source in package.carries]

    assert sources, "the reference packages declare where their pictures come from"
    assert [source.name for source in sources if not re.search(source.pattern, source.name, flags=re.IGNORECASE)] == []


def picture_row(package: str, number: int, split: str = "evaluation", use: str = "video") -> dict:
    sha = f"{number:02x}" * 32
    return {"path": f"pictures/{package}/{sha[:16]}.png", "package": package, "split": split, "use": use, "sha256": sha, "category": "texture"}


def test_marking_a_withheld_package_marks_its_pictures_and_no_other():
    rows = [picture_row("borrowing-data", 1), picture_row("independent-data", 2)]

    marked = mark_pictures(rows, {"borrowing-data": "credits Some Game (some-game-data, 1x)"})

    assert [row["withheld"] for row in marked] == ["credits Some Game (some-game-data, 1x)", ""]


def test_withheld_pictures_keep_every_other_video_as_it_was_and_withhold_the_videos_they_are_in(tmp_path):
    rows = [picture_row("borrowing-data" if number % 4 == 0 else "independent-data", number) for number in range(1, 40)]
    before = [row for _recipe, row in video_jobs(tmp_path, mark_pictures(rows, {}))]

    after = [row for _recipe, row in video_jobs(tmp_path, mark_pictures(rows, {"borrowing-data": "credits Some Game (some-game-data, 1x)"}))]

    assert [{**row, "withheld": ""} for row in after] == before
    assert [bool(row["withheld"]) for row in after] == ["borrowing-data" in row["packages"] for row in after]
    assert 0 < sum(bool(row["withheld"]) for row in after) < len(after)  # both kinds of video are there to compare


def test_applying_the_rule_to_a_built_corpus_marks_the_crediting_package_and_changes_nothing_else(tmp_path):
    (tmp_path / "licences").mkdir()
    (tmp_path / "licences" / "independent-data.copyright").write_text(MACHINE_READABLE)
    (tmp_path / "licences" / "borrowing-data.copyright").write_text(credited("\nFiles: *\nCopyright: Painter\nLicense: GPL-2+\n"))
    negatives = (Package("independent-data", "1", "photo", Part.EVALUATION), Package("borrowing-data", "1", "texture", Part.EVALUATION))
    write_manifest([picture_row("independent-data", 1, use="still"), picture_row("borrowing-data", 2, use="still")], tmp_path / "pictures.csv")
    before = read_manifest(tmp_path / "pictures.csv")

    step = apply_independence(tmp_path, negatives, REFERENCES)

    after = read_manifest(tmp_path / "pictures.csv")
    assert step == {"withheld": {"borrowing-data": "credits Painter (some-game-data, 1x)"}, "pictures_withheld": 1}
    assert [row["withheld"] for row in after] == ["", "credits Painter (some-game-data, 1x)"]
    assert [{**row, "withheld": ""} for row in after] == before


def test_the_summary_counts_only_what_is_taken_and_records_what_was_withheld_and_why(tmp_path):
    rows = [picture_row("independent-data", 1, use="still"), picture_row("borrowing-data", 2, use="still")]
    write_manifest(mark_pictures(rows, {"borrowing-data": "credits Painter (some-game-data, 1x)"}), tmp_path / "pictures.csv")

    summary = summarise(tmp_path, {})

    assert summary["pictures"] == {"evaluation/still": 1}
    assert summary["withheld"]["packages"] == {"borrowing-data": "credits Painter (some-game-data, 1x)"}
    assert summary["withheld"]["pictures"] == {"evaluation/still": 1}
    assert json.loads((tmp_path / "summary.json").read_text())["withheld"] == summary["withheld"]


def test_writing_a_manifest_over_a_link_to_another_corpus_leaves_that_corpus_alone(tmp_path):
    other = tmp_path / "other.csv"
    other.write_text("path\nuntouched\n")
    (tmp_path / "pictures.csv").symlink_to(other)

    write_manifest([{"path": "new"}], tmp_path / "pictures.csv", ("path",))

    assert other.read_text() == "path\nuntouched\n"
    assert not (tmp_path / "pictures.csv").is_symlink()


def test_the_report_says_how_many_uploads_were_withheld_and_why():
    stills = mark_pictures([picture_row("borrowing-data", 1, use="still"), picture_row("independent-data", 2, use="still")], {"borrowing-data": "credits Painter (some-game-data, 1x)"})
    videos = [{"path": "videos/evaluation/0000.mp4", "withheld": "shows pictures of withheld borrowing-data"}, {"path": "videos/evaluation/0001.mp4", "withheld": ""}]

    note = withheld_note(stills, videos)

    assert note.startswith("Withheld by the corpus's independence rule")
    assert "1 pictures and 1 videos" in note and "borrowing-data: credits Painter (some-game-data, 1x)" in note
    assert withheld_note(stills[1:], videos[1:]) == ""


def test_a_manifest_written_before_the_rule_reads_as_nothing_withheld(tmp_path):
    (tmp_path / "pictures.csv").write_text("path,package\npictures/a/1.png,a\n")

    assert [taken(row) for row in read_manifest(tmp_path / "pictures.csv")] == [True]
