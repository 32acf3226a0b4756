"""Leave-one-out validation rows of the memory model (a run predicted by coefficients fitted without it) and
their Markdown tables: what `python -m harness.memory.fit` prints and reports/memory-model/README.md shows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.memory.model import PHASES


@dataclass(frozen=True)
class LooRow:
    left_out: str
    run: str
    phase: str
    measured_alloc: float
    predicted_alloc: float
    measured_nvml: float
    predicted_nvml: float
    fitted_on: int

    @property
    def alloc_err(self) -> float:
        return (self.predicted_alloc - self.measured_alloc) / self.measured_alloc

    @property
    def nvml_err(self) -> float:
        return (self.predicted_nvml - self.measured_nvml) / self.measured_nvml


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def loo_table(rows: list[LooRow], title: str) -> str:
    out = [f"| {title} | run | phase | torch allocated: measured | predicted | error | NVML process: measured | predicted | error |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        out.append(f"| {r.left_out} | {r.run} | {r.phase} | {r.measured_alloc:,.0f} | {r.predicted_alloc:,.0f} | "
                   f"{_pct(r.alloc_err)} | {r.measured_nvml:,.0f} | {r.predicted_nvml:,.0f} | {_pct(r.nvml_err)} |")  # fmt: skip
    return "\n".join(out)


def loo_summary(rows: list[LooRow]) -> str:
    out = []
    for ph in PHASES:
        mine = [r for r in rows if r.phase == ph]
        if not mine:
            continue
        a = [abs(r.alloc_err) for r in mine]
        n = [abs(r.nvml_err) for r in mine]
        within = sum(x <= 0.05 for x in a)
        out.append(f"{ph}: torch allocated |error| mean {np.mean(a) * 100:.1f}%, max {max(a) * 100:.1f}% "
                   f"({within} of {len(a)} within 5%); NVML process |error| mean {np.mean(n) * 100:.1f}%, "
                   f"max {max(n) * 100:.1f}%")  # fmt: skip
    return "\n".join(out)
