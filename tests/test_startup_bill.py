"""Start-up is in the bill (issue 28, part 3): the one-time cost runs from the command to the first steady step.

Unsloth always starts a fresh interpreter (about 28 s before the load on llama1B); a plain run forked from
the sweep's fork server starts in about 5 s. Break-even and the ranking's job projection count it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.report.analysis import analyse
from harness.report.analysis.timing import run_timing
from harness.report.load import load_results
from harness.report.prices import PriceTable
from harness.result import RunResult
from tests.report_fixtures import GEMMA, make_run, write_results

NO_PRICES = PriceTable.load(None, required=False)
JOB = {"job": {"steps": 150}}


def _run(backend: str, step: float, start_s: float, **kw: Any) -> RunResult:
    return make_run(
        GEMMA, 16, backend=backend, burn=[step] * 5, steady=[step] * 45, shapes=["4x90"] * 50,
        one_time={"before_load_s": start_s}, **kw,
    )  # fmt: skip


def _analyse(tmp_path: Path, plain_start: float, other_start: float, **kw: Any) -> Any:
    runs = [_run("hf", 0.375, plain_start, **kw.get("plain", {})), _run("unsloth", 0.25, other_start)]
    return analyse(load_results(write_results(tmp_path, runs, spec_extra=JOB)), NO_PRICES)


def test_faster_steps_do_not_pay_back_25_s_more_start_up_in_150_steps(tmp_path: Path) -> None:
    a = _analyse(tmp_path / "a", 5.0, 30.0)
    (pair,) = a.pairs
    assert pair.one_time_extra_s == pytest.approx(25.0)
    assert pair.break_even_steps == pytest.approx(25.0 / 0.125)  # 200 steps: more than the job's 150
    assert pair.pays_back.startswith("after 200 steps")
    plain, other = pair.plain, pair.other
    assert other.job_time.mean - plain.job_time.mean == pytest.approx(25.0 - 150 * 0.125)
    time = {r.cell.backend: r.terms["time"].ratio for r in a.decision.rows}  # the ranking's job projection
    assert time["hf"] == pytest.approx(1.0) and time["unsloth"] < 1.0


def test_alike_start_ups_pay_back_at_once(tmp_path: Path) -> None:
    (pair,) = _analyse(tmp_path / "b", 5.0, 5.0).pairs
    assert pair.one_time_extra_s == pytest.approx(0.0)
    assert pair.pays_back.startswith("at once")
    assert pair.plain.job_time.mean - pair.other.job_time.mean == pytest.approx(150 * 0.125)


def test_a_comparison_started_differently_says_so(tmp_path: Path) -> None:
    forked = {"plain": {"env": {"env_vars": {"HARNESS_START": "fork"}}}}
    (pair,) = _analyse(tmp_path / "c", 5.0, 30.0, **forked).pairs
    assert any("started differently (hf fork, unsloth fresh)" in n for n in pair.notes)
    (alike,) = _analyse(tmp_path / "d", 15.0, 30.0).pairs
    assert not any("started differently" in n for n in alike.notes)


def test_the_harness_own_builds_are_not_start_up() -> None:
    run = make_run(GEMMA, 16, one_time={"before_load_s": 10.0, "shape_build_s": 4.0, "tokenizer_train_s": 0.5})
    t = run_timing(run)
    assert t is not None and t.startup_known
    assert t.parts["start-up"] == pytest.approx(5.5)
    assert t.parts["load"] == pytest.approx(run.phases["load"].wall_s)
    assert t.one_time_s == pytest.approx(sum(t.parts.values()))


def test_older_files_without_a_start_up_say_so(tmp_path: Path) -> None:
    runs = [make_run(GEMMA, 16, one_time={}), _run("unsloth", 0.25, 30.0)]
    a = analyse(load_results(write_results(tmp_path, runs)), NO_PRICES)
    assert any("No start-up before the load recorded" in n and "r16 hf" in n for n in a.timing_notes)
    (pair,) = a.pairs
    assert any("start-up before the load is not recorded for hf" in n for n in pair.notes)
