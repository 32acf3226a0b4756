"""--time-budget: a sweep starts no run that is not expected to end within its budget; the rest wait for a resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli
from harness.errors import UserError
from harness.sweep import SweepOptions
from harness.sweep.outcome import SweepInterrupted
from harness.sweep.time_budget import TimeBudget
from tests.test_sweep import hooks, sweep  # noqa: F401  (hooks: the fixture the fake runs need)
from tests.tiny import tiny_request


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expected_wall_is_the_longest_of_its_model_and_backend_else_of_any(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("harness.sweep.time_budget.time.monotonic", clock)
    a, b = tiny_request(), tiny_request(backend="unsloth")
    budget = TimeBudget(100.0)
    assert budget.expected_s(a) is None and budget.refuses(a) is None  # nothing to go by: it starts
    budget.record(a, 30.0, "ok")
    budget.record(a, 40.0, "failed")
    budget.record(a, 90.0, "cancelled")  # cut short: not a run's length
    assert budget.expected_s(a) == pytest.approx(40.0)
    assert budget.expected_s(b) == pytest.approx(40.0)  # no unsloth run yet: the longest of any
    budget.record(b, 20.0, "ok")
    assert budget.expected_s(b) == pytest.approx(20.0)
    clock.now += 59.0  # 41 s left
    assert budget.refuses(a) is None
    clock.now += 2.0  # 39 s left: a 40 s run would not end in time, a 20 s one would
    why = budget.refuses(a)
    assert why is not None and why.startswith("time budget: 39 s of 100 s left") and "40 s" in why
    assert budget.refuses(b) is None


def test_the_budget_counts_from_the_command_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's start (preflight, fork server) is in the budget, as it is in the caller's own time limit."""
    clock = Clock()
    monkeypatch.setattr("harness.sweep.time_budget.time.monotonic", clock)
    (tmp_path / "runs").mkdir()
    budget = TimeBudget.from_folder(60.0, tmp_path / "runs", t0=clock.now - 45.0)  # started 45 s ago
    budget.record(tiny_request(), 20.0, "ok")
    assert budget.refuses(tiny_request()) is not None  # 15 s left
    assert TimeBudget.from_folder(60.0, tmp_path / "runs").refuses(tiny_request()) is None  # nothing known


def test_a_sweep_stops_taking_runs_at_its_budget_and_resumes(tmp_path: Path, hooks) -> None:  # noqa: F811
    hooks("fake:0.6")  # every run takes over 0.6 s, so after the first, a second cannot end within 1 s
    with pytest.raises(SweepInterrupted) as ex:
        sweep(tmp_path, [4, 8, 16], time_budget_s=1.0)
    out = ex.value.outcome
    assert len(out.ran) == 1 and all(r.status == "ok" for r in out.results)
    assert "0 cancelled, 2 not started" in ex.value.message and "resume with" in ex.value.message
    again = sweep(tmp_path, [4, 8, 16])  # no budget: the two left run, the first is kept
    assert len(again.ran) == 2 and len(again.kept) == 1 and again.counts == {"ok": 3}


def test_a_budget_too_small_for_what_the_folder_knows_starts_nothing(tmp_path: Path, hooks) -> None:  # noqa: F811
    hooks("fake:0.6")
    sweep(tmp_path, [4])
    with pytest.raises(SweepInterrupted) as ex:  # the folder's run took over 0.6 s: none fits in 0.5 s
        sweep(tmp_path, [4, 8], time_budget_s=0.5)
    assert ex.value.outcome.ran == [] and "1 not started" in ex.value.message


@pytest.mark.parametrize(("kw", "msg"), [({"time_budget_s": 0}, "above 0"),
                                          ({"time_budget_s": 60, "executor": "ray"}, "local executor only")])  # fmt: skip
def test_bad_budgets_are_refused(tmp_path: Path, kw: dict, msg: str) -> None:
    with pytest.raises(UserError, match=msg):
        SweepOptions(tmp_path, **kw).check()


def test_the_flag_reaches_the_options() -> None:
    args = cli.build_parser().parse_args(["bench", "--time-budget", "540"])
    assert SweepOptions.from_args(args, Path("results")).time_budget_s == pytest.approx(540.0)
