"""What every section module gets: the results, the prices, the analysis; and where figures go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.fmt import interval
from harness.report import plots
from harness.report.analysis import Analysis
from harness.report.analysis.stats import Est
from harness.report.load import ResultSet, Run, sort_runs
from harness.report.prices import PriceTable
from harness.report.render import Figure


@dataclass
class Context:
    rs: ResultSet
    prices: PriceTable
    analysis: Analysis
    figures: list[Figure] = field(default_factory=list)  # every figure the sections made, in order
    notes: list[str] = field(default_factory=list)
    predicted: dict[str, list[Any]] = field(default_factory=dict)  # cell id -> memory model verdicts per GPU

    @property
    def runs(self) -> list[Run]:
        return sort_runs(self.rs.runs)

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def any_shape(self) -> bool:
        return any(r.shape for r in self.rs.runs)

    @property
    def all_cpu(self) -> bool:
        return {r.device for r in self.rs.runs if r.device} == {"cpu"}

    @property
    def currency(self) -> str:
        return self.prices.currency

    def figure(self, name: str, title: str, fig: Any, shape: bool, caption: str | None = None) -> Figure:
        f = Figure(name, title, plots.png_bytes(fig), shape, caption)
        self.figures.append(f)
        return f


def est(e: Est, digits: int = 1, unit: str = "", scale: float = 1.0) -> str | None:
    """An estimate as 'mean [lo, hi] unit' (scaled, e.g. MiB -> GiB)."""
    if e.mean is None:
        return None
    lo = None if e.lo is None else e.lo * scale
    hi = None if e.hi is None else e.hi * scale
    return interval(e.mean * scale, lo, hi, digits, unit)
