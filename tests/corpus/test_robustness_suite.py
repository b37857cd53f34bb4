"""The evaluation command builds a (quick) suite from the corpus and writes its report."""

from hashmatch_tools.evaluation.__main__ import main


def test_quick_evaluation_writes_the_report_and_plot(corpus, tmp_path, capsys):
    status = main(["--quick", "--corpus", str(corpus), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "docs")])
    report = (tmp_path / "docs" / "robustness.md").read_text()
    assert status == 0
    assert (tmp_path / "docs" / "robustness-distances.png").stat().st_size > 1000
    for row in ("| crop 5 % |", "| resize 50 % |", "False positives, pdq+orb: 0", "## Images", "## Videos"):
        assert row in report
    assert "recall, pdq+orb" in capsys.readouterr().out


def test_the_suite_is_reused_between_runs(corpus, tmp_path):
    arguments = ["--quick", "--corpus", str(corpus), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "docs")]
    main(arguments)
    made = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.name != "manifest.json"}
    main(arguments)
    assert made == {p: p.stat().st_mtime_ns for p in made}
