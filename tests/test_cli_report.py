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


def test_fits_on_shows_the_memory_models_prediction_beside_the_measured_peak(tmp_path: Path) -> None:
    """`lora-harness report` adds the prediction per team GPU, in the dtype it trains in (issue 18)."""
    from harness.report import build_report
    from tests.report_fixtures import candidate, make_run, write_results
    from tests.tiny import TINY

    tiny = candidate("tiny-llama", 0.001, None, "llama", hidden=32)
    tiny["shape_config"] = dict(TINY["llama"]["config"])
    tiny["lora_target_modules"] = TINY["llama"]["targets"]
    folder = write_results(tmp_path / "r", [make_run(tiny, 4, weights="shape")], weights="shape")
    build_report(folder)  # the sweep's own call: no torch, no prediction
    assert "run lora-harness report on this folder to add it here" in (folder / "report.md").read_text(encoding="utf-8")
    build_report(folder, predict_memory=True)
    text = (folder / "report.md").read_text(encoding="utf-8")
    table = text[text.index("Predicted by the memory model") :].split("\n\n")[1]  # the table under its title
    rows = [line for line in table.splitlines() if line.startswith("| tiny-llama")]
    assert [r.split(" | ")[1:3] for r in rows] == [
        ["Quadro M6000", "fp16"], ["Quadro M6000", "fp32"], ["Tesla T4", "fp16"], ["NVIDIA H100 80GB HBM3", "bf16"]
    ]  # fmt: skip
    assert "not measured there" in rows[2] and "not measured there" not in rows[3]  # measured on the H100 only
