"""`lora-harness report` takes the team's job and score weights: reweighting and reprojecting need no rerun."""

from __future__ import annotations

from pathlib import Path

from harness.cli import main
from tests.report_fixtures import make_results_folder


def test_report_projects_the_given_job_and_reweights_without_touching_results(tmp_path: Path, capsys) -> None:
    folder = make_results_folder(tmp_path / "r", "real")
    before = {p.name: p.read_bytes() for p in (folder / "runs").glob("*.json")}
    assert main(["report", str(folder)]) == 0
    plain = (folder / "report.md").read_text(encoding="utf-8")
    assert main(["report", str(folder), "--job", "200x3@4", "--quality-weights", "chrf=5,contains=0"]) == 0
    text = (folder / "report.md").read_text(encoding="utf-8")
    assert "150 steps" in text and "150 steps" not in plain
    assert text != plain
    assert {p.name: p.read_bytes() for p in (folder / "runs").glob("*.json")} == before  # no result file touched


def test_bad_report_options_are_one_line_errors(tmp_path: Path, capsys) -> None:
    folder = make_results_folder(tmp_path / "r", "real")
    assert main(["report", str(folder), "--quality-weights", "fluency=2"]) == 2
    assert main(["report", str(folder), "--quality-weights", "chrf"]) == 2
    assert main(["report", str(folder), "--job", "lots"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error:") for line in err)
