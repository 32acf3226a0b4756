"""The price table and budget-GPU list (benchmarks/gpu-prices.yaml): cost and "fits on" per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.config import REPO_ROOT, read_yaml, validation_error
from harness.errors import UserError
from harness.fmt import rel_path

DEFAULT_PRICES_FILE = REPO_ROOT / "benchmarks" / "gpu-prices.yaml"
DEFAULT_MARGIN = 0.10
MIB_PER_GIB = 1024.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GpuPrice(_Strict):
    name: str
    match: list[str] = Field(min_length=1)  # case-insensitive substrings of the NVML GPU name; longest wins
    usd_per_hour: float = Field(ge=0)


class CpuPrice(_Strict):
    usd_per_hour: float = Field(ge=0)


class BudgetGpu(_Strict):
    name: str
    memory_gib: float = Field(gt=0)
    # e.g. 5.2: a backend that needs more (Unsloth's and Liger's Triton kernels: 7.0) cannot run there at all
    compute_capability: float | None = Field(None, gt=0)

    @property
    def cc(self) -> tuple[int, int] | None:
        """The compute capability as (major, minor): 5.2 -> (5, 2); None when the file gives none."""
        if self.compute_capability is None:
            return None
        major = int(self.compute_capability)
        return (major, round((self.compute_capability - major) * 10))


class Fits(_Strict):
    margin: float = Field(DEFAULT_MARGIN, ge=0, lt=10)
    gpus: list[BudgetGpu] = []


class PriceFile(_Strict):
    as_of: str | None = None
    currency: str = "USD"
    note: str | None = None
    gpus: list[GpuPrice] = []
    cpu: CpuPrice | None = None
    fits: Fits = Fits()


def prices_path(text: str) -> Path:
    """A spec's `prices:` path: relative paths start at the project root (where benchmarks/ is)."""
    p = Path(text)
    return p if p.is_absolute() else REPO_ROOT / p


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
        if path is None or not Path(path).exists():
            if required:
                raise UserError(f"{path}: price file not found; pass an existing file or leave --prices out")
            return cls(PriceFile(), None)
        raw = read_yaml(Path(path))
        if not isinstance(raw, dict):
            raise UserError(f"{path}: expected a mapping with gpus, cpu and fits")
        try:
            data = PriceFile.model_validate(raw)
        except ValidationError as e:
            raise validation_error(path, e) from None
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
        """The fits GPU table's entry for `--emulate NAME` (case-insensitive; a part of the name will do), as
        the fields of an EmulatedGpu; a GPU without a compute capability cannot be emulated."""
        want = name.strip().lower()
        gpus = self.budget_gpus
        found = [g for g in gpus if g.name.lower() == want] or [g for g in gpus if want and want in g.name.lower()]
        where = rel_path(self.source, REPO_ROOT) if self.source else "the price file"
        if len(found) != 1:
            names = ", ".join(g.name for g in gpus) or "none"
            what = "matches several GPUs" if found else "is not in"
            raise UserError(f"--emulate {name}: {what} the fits GPU table of {where} (fits.gpus: {names})")
        g = found[0]
        if g.compute_capability is None:
            raise UserError(f"--emulate {name}: {where} gives {g.name} no compute_capability; add it to emulate it")
        return {"name": g.name, "memory_mib": g.memory_gib * MIB_PER_GIB, "compute_capability": list(g.cc or ())}

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
