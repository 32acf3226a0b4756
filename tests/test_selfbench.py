"""The self-benchmark's monitoring-overhead figure: an interval over rounds, and a verdict that can say 'unclear'."""

from __future__ import annotations

from typing import Any

from harness.report.selfbench_checks import overhead_verdict, summary_rows
from harness.selfbench import _overhead


def test_verdict_follows_the_interval_not_the_point() -> None:
    assert overhead_verdict({"overhead_pct": 0.2, "overhead_ci_pct": [-0.5, 0.9]}, 1.0) == "yes"
    assert overhead_verdict({"overhead_pct": 15.0, "overhead_ci_pct": [9.0, 21.0]}, 1.0) == "NO"
    assert overhead_verdict({"overhead_pct": 0.5, "overhead_ci_pct": [-8.0, 12.0]}, 1.0).startswith("unclear")
    assert overhead_verdict({"overhead_pct": 3.0}, 1.0).startswith("NO (one median")  # older selfbench.json


def test_a_loop_the_sampler_cannot_slow_has_no_overhead() -> None:
    calls: list[int] = []

    def loop(torch: Any, device: str, steps: int, size: str = "") -> list[float]:
        calls.append(steps)
        return [0.01] * steps  # the same time whatever runs beside it

    o = _overhead(loop, None, "cpu", "", rounds=4, steps=6)
    assert o["overhead_pct"] == 0.0 and o["overhead_ci_pct"] == [0.0, 0.0]
    assert len(o["round_medians_s"]) == 4 and o["steps_each"] == 4 * 3  # 3 of 6 steps after each block's first 3
    assert calls == [5] + [6] * 8  # burn-in, then one off and one on block a round
    assert o["sampler_ms_per_sample"] is None or o["sampler_ms_per_sample"] > 0
    rows = summary_rows({"monitor_overhead": {"device": "cpu", "goal_pct": 1.0, "python_loop": o}})
    assert rows[0][1].startswith("+0.00% [+0.0, +0.0]") and rows[0][3] == "yes"
