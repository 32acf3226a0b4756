"""The price table and budget-GPU list (benchmarks/gpu-prices.yaml): cost and "fits on" per run. The file's
schema and reading it are `harness.gpu_prices` (bottom floor: the config's `--emulate` reads it too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.fmt import rel_path
from harness.gpu_prices import (  # noqa: F401  (the price file's schema, re-exported for the report)
    DEFAULT_MARGIN,
    DEFAULT_PRICES_FILE,
    MIB_PER_GIB,
    REPO_ROOT,
    BudgetGpu,
    CpuPrice,
    Fits,
    GpuPrice,
    PriceFile,
    emulated_gpu,
    prices_path,
    read_price_file,
)


@dataclass
class Cost:
    hours: float | None  # train + generation wall time, hours
    per_hour: float | None  # matched price per hour
    money: float | None
    price_name: str | None  # which price entry matched ("cpu" on CPU runs)
    kind: str  # "GPU" or "CPU"


@dataclass(frozen=True)
class GpuFit:
    """One configuration on one team GPU (harness.report.analysis.fits.gpu_verdict)."""

    gpu: str
    dtype: str  # the dtype that GPU trains the configuration in
    fits: bool | None  # None: unknown (not measured in that dtype, no emulated run, no prediction)
    basis: str  # capability, emulated, measured, predicted or unknown
    why: str  # one line


@dataclass
class Fit:
    peak_mib: float | None  # the measured peak used
    measure: str | None  # "nvml process" or "torch reserved"
    needed_mib: float | None  # peak * (1 + margin)
    fits: dict[str, bool] = field(default_factory=dict)  # budget GPU name -> fits (False also when unknown)
    applicable: bool = True  # False on CPU-only runs
    cannot_run: dict[str, str] = field(default_factory=dict)  # budget GPU name -> why the backend cannot run there
    gpus: dict[str, GpuFit] = field(default_factory=dict)  # budget GPU name -> the verdict with its dtype and basis

    @property
    def unknown(self) -> list[str]:
        return [n for n, v in self.gpus.items() if v.fits is None]

    @property
    def fits_on(self) -> str:
        if not self.applicable:
            return "n/a (CPU run)"
        if self.needed_mib is None:
            return ""
        names = [n for n, ok in self.fits.items() if ok]
        return ", ".join(names) if names else "none"


@dataclass
class PriceTable:
    data: PriceFile
    source: str | None  # path it was read from; None: no price file
    margin: float = DEFAULT_MARGIN

    @classmethod
    def load(cls, path: Path | None, *, required: bool) -> PriceTable:
        """Read the YAML; a missing file is a UserError only when the user named it."""
        data = read_price_file(path, required=required)
        if data is None:
            return cls(PriceFile(), None)
        return cls(data, str(path), data.fits.margin)

    @property
    def currency(self) -> str:
        return self.data.currency

    @property
    def budget_gpus(self) -> list[BudgetGpu]:
        return list(self.data.fits.gpus)

    def match_gpu(self, gpu_name: str | None) -> GpuPrice | None:
        if not gpu_name:
            return None
        name = gpu_name.lower()
        best: tuple[int, GpuPrice] | None = None
        for entry in self.data.gpus:
            for s in entry.match:
                if s and s.lower() in name and (best is None or len(s) > best[0]):
                    best = (len(s), entry)
        return best[1] if best else None

    def cost(self, hours: float | None, device: str | None, gpu_name: str | None) -> Cost:
        if device == "cpu":
            per = self.data.cpu.usd_per_hour if self.data.cpu else None
            return Cost(
                hours,
                per,
                None if hours is None or per is None else hours * per,
                "cpu" if per is not None else None,
                "CPU",
            )
        entry = self.match_gpu(gpu_name)
        per = entry.usd_per_hour if entry else None
        return Cost(
            hours, per, None if hours is None or per is None else hours * per, entry.name if entry else None, "GPU"
        )

    def emulated_gpu(self, name: str) -> dict[str, object]:
        """The fits GPU table's entry for `--emulate NAME`, as the fields of an EmulatedGpu (harness.gpu_prices)."""
        return emulated_gpu(self.budget_gpus, self.source, name)

    def first_fit(self, fit: Fit) -> BudgetGpu | None:
        """The first budget GPU, in the file's order, that the run fits on (the file lists the team's T4 first)."""
        return next((g for g in self.budget_gpus if fit.fits.get(g.name)), None)

    def describe(self) -> str:
        if self.source is None:
            return "No price file was found: cost columns are empty."
        parts = [f"Prices from {rel_path(self.source, REPO_ROOT)}"]
        if self.data.as_of:
            parts.append(f"as of {self.data.as_of}")
        text = ", ".join(parts) + f" ({self.currency} per hour)."
        if self.data.note:
            text += " " + self.data.note
        return text
