"""The report shows each run's memory-sampler period and warns when the GPU runs of one folder differ in it:
the sampler's own cost depends on its period (reports/sampler-ab-h200/), so such runs' times do not compare."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.report import build_report
from harness.report.load import load_results, sampler_period_ms
from harness.result import RunResult
from tests.report_fixtures import GEMMA, make_run, write_results


def _sampled(run: RunResult, ms: float | None) -> RunResult:
    monitor = None if ms is None else f"separate sampler process every {ms:g} ms (NVML on); energy: ..."
    assert run.environment is not None
    return run.model_copy(update={"environment": run.environment.model_copy(update={"monitor": monitor})})


@pytest.mark.parametrize(
    ("text", "ms"),
    [("separate sampler process every 5 ms (NVML on)", 5.0), ("... every 50 ms ...", 50.0),
     ("separate sampler process every 0.5 ms", 0.5), (None, None), ("in-process thread", None)],
)  # fmt: skip
def test_period_read_from_the_recorded_monitor(text: str | None, ms: float | None) -> None:
    assert sampler_period_ms(text) == ms


def test_mixed_periods_warn_and_one_period_does_not(tmp_path: Path) -> None:
    same = [_sampled(make_run(GEMMA, 16, repeat=i), 50) for i in range(2)]
    assert not any("different periods" in w for w in load_results(write_results(tmp_path / "a", same)).warnings)
    mixed = [_sampled(make_run(GEMMA, 16, repeat=0), 5), _sampled(make_run(GEMMA, 16, repeat=1), 50),
             _sampled(make_run(GEMMA, 64), 50)]  # fmt: skip
    warnings = load_results(write_results(tmp_path / "b", mixed)).warnings
    hits = [w for w in warnings if "different periods" in w]
    assert len(hits) == 1 and "every 5 ms: 1 run(s), every 50 ms: 2 run(s)" in hits[0]


def test_environment_table_shows_the_period_and_measurement_version(tmp_path: Path) -> None:
    runs = [_sampled(make_run(GEMMA, 16), 5), _sampled(make_run(GEMMA, 64), 50)]
    md = build_report(write_results(tmp_path / "r", runs)).markdown.read_text(encoding="utf-8")
    env = md.split("## Environment", 1)[1].split("\n## ", 1)[0]
    assert "| memory sampler | every 5 ms (1 runs); every 50 ms (1 runs) |" in env
    assert "| measurement version |" in env
