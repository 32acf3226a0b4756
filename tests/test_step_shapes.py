"""Steps that meet a token shape for the first time are timed apart from the steady steps (issue 28, part 2).

After the burn-in, a step whose padded length the run had not met before pays for new kernels and plans
once. The team's job meets each shape once, so it is projected as one-time cost + a first-occurrence
cost per shape + steps x the steady step of shapes already seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from harness import data as data_mod
from harness import weights
from harness.backends.hf import HF
from harness.child import train
from harness.report.analysis import analyse
from harness.report.analysis.timing import MEAN_NO_SHAPES, MEDIAN, run_timing
from harness.report.load import load_results
from harness.report.prices import PriceTable
from harness.result import RunResult, StepTimes
from tests.report_fixtures import GEMMA, QWEN, make_run, write_results
from tests.tiny import tiny_request

BURN = [4.0, 2.0, 0.5, 0.5, 0.5]
BURN_SHAPES = ["4x90", "4x96", "4x90", "4x96", "4x90"]
STEADY = 0.20
NO_PRICES = PriceTable.load(None, required=False)
FIRST = {6: ("4x120", 0.80), 14: ("4x64", 1.00), 20: ("4x150", 0.60)}  # step index -> (new shape, its time)


def _steps() -> tuple[list[float], list[float], list[str]]:
    """(burn-in times, times after it, every step's shape): three shapes first met at steps 6, 14 and 20."""
    times, shapes = [], []
    for i in range(len(BURN), 50):
        if i in FIRST:
            shape, t = FIRST[i]
        else:
            shape, t = (BURN_SHAPES[i % 2], STEADY)
            if i > 20 and i % 5 == 0:
                shape = FIRST[6 + 8 * (i % 3 == 0)][0]  # shapes met before come back: steady steps
        times.append(t)
        shapes.append(shape)
    return BURN, times, BURN_SHAPES + shapes


def _run(shapes: bool, **kw: Any) -> RunResult:
    burn, steady, all_shapes = _steps()
    return make_run(GEMMA, 16, burn=burn, steady=steady, shapes=all_shapes if shapes else None, **kw)


def test_first_occurrences_are_found_and_costed() -> None:
    t = run_timing(_run(shapes=True))
    assert t is not None and t.method == MEDIAN
    assert [f.index for f in t.first_shapes] == [6, 14, 20]
    assert [f.shape for f in t.first_shapes] == ["4x120", "4x64", "4x150"]
    assert t.steady_step == pytest.approx(STEADY)
    assert t.shapes_met == 5
    assert t.parts["new shapes"] == pytest.approx((0.80 - STEADY) + (1.00 - STEADY) + (0.60 - STEADY))
    assert t.parts["first steps"] == pytest.approx(sum(BURN) - 5 * STEADY)
    assert len(t.steady) == 50 - 5 - 3


def test_a_step_with_a_new_micro_batch_shape_is_a_first_occurrence() -> None:
    times = [1.0, 0.2, 0.2, 0.9, 0.2, 0.2]
    shapes = ["2x10+2x12", "2x10+2x12", "2x12+2x10", "2x12+2x40", "2x40+2x10", "2x10+2x12"]
    run = make_run(GEMMA, 16, burn=times[:1], steady=times[1:], shapes=shapes)
    t = run_timing(run)
    assert t is not None and [f.index for f in t.first_shapes] == [3]
    assert t.steady_step == pytest.approx(0.2)


def test_older_files_without_shapes_keep_the_mean_and_say_so(tmp_path: Path) -> None:
    old = run_timing(_run(shapes=False))
    assert old is not None and old.method == MEAN_NO_SHAPES and "new shapes" not in old.parts
    _, after, _ = _steps()
    assert old.steady_step == pytest.approx(sum(after) / len(after))
    folder = write_results(tmp_path / "s", [_run(shapes=False), make_run(QWEN, 16, shapes=["4x90"] * 50)])
    a = analyse(load_results(folder), NO_PRICES)
    assert any("No step shapes recorded" in n and "gemma-2-2b-it r16" in n for n in a.timing_notes)
    assert not any("qwen" in n for n in a.timing_notes if "No step shapes" in n)


def test_the_job_meets_each_shape_once(tmp_path: Path) -> None:
    """150 steps: one-time (with each new shape's first step once) + 150 x the steady step of repeated shapes."""
    job = {"job": {"steps": 150}}
    with_shapes = analyse(load_results(write_results(tmp_path / "a", [_run(True)], spec_extra=job)), NO_PRICES)
    without = analyse(load_results(write_results(tmp_path / "b", [_run(False)], spec_extra=job)), NO_PRICES)
    (cell,), (old,) = with_shapes.cells, without.cells
    t = run_timing(cell.first.result)
    assert t is not None
    assert cell.steady.mean == pytest.approx(STEADY)
    assert cell.job_time.mean == pytest.approx(t.one_time_s + 150 * STEADY)
    # the old method counts the three first occurrences in every one of the 150 steps' mean
    assert old.steady.mean > STEADY
    assert old.job_time.mean > cell.job_time.mean


def test_step_stats_keep_the_shapes_only_when_every_step_has_one() -> None:
    assert train.step_stats([1.0, 0.5], 1, ["4x10", "4x12"]).shapes == ["4x10", "4x12"]
    assert train.step_stats([1.0, 0.5], 1, ["4x10"]).shapes is None
    assert train.step_stats([1.0, 0.5], 1, None).shapes is None
    assert StepTimes.model_validate({"times_s": [1.0], "burn_in_steps": 0}).shapes is None  # older files load


def test_the_step_timer_records_each_steps_token_shape(tmp_path: Path, shape_cache: Path) -> None:
    """A real tiny SFTTrainer (CPU): 3 steps of 2 micro-batches of 2 rows, each recorded as 2xL+2xL."""
    req = tiny_request("llama", data={"train_rows": 12}, train={"max_steps": 3, "batch_size": 2, "grad_accum": 2})
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    model, tok, _ = HF().load(req, w, "cpu", torch.float32)
    model, _ = HF().add_adapter(model, req)
    rows = [{"prompt": f"### 질문: {e.question} ### 답변:", "completion": (e.answer or "") + "</s>"} for e in ex[:12]]
    timer = train.StepTimer(cuda=False)
    trainer = train.build_trainer(model, tok, rows, req, tmp_path / "out", "cpu", torch.float32, timer)
    trainer.train()
    assert len(timer.shapes) == len(timer.times) == 3
    for shape in timer.shapes:
        micro = shape.split("+")
        assert len(micro) == 2
        for m in micro:
            b, length = (int(x) for x in m.split("x"))
            assert b == 2 and 1 < length <= req.train.max_length
    assert train.step_stats(timer.times, 1, timer.shapes).shapes == timer.shapes
