"""The price file (benchmarks/gpu-prices.yaml): its schema, reading it, and its fits GPU table's entry for
`--emulate NAME`.

Bottom floor: the config expands `axes.emulate` with it, and the report (`harness.report.prices`) prices runs
and judges "fits on" with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import UserError
from harness.fmt import rel_path
from harness.project import project_root
from harness.validation import read_yaml, validation_error

REPO_ROOT = project_root()
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
    # e.g. 5.2: a backend that needs more (its `min_compute_capability`, such as Triton kernels' 7.0) cannot
    # run there at all
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


def read_price_file(path: Path | None, *, required: bool) -> PriceFile | None:
    """The price file's contents; None when it is missing and was not named by the user (a missing file the
    user named is a UserError)."""
    if path is None or not Path(path).exists():
        if required:
            raise UserError(f"{path}: price file not found; pass an existing file or leave --prices out")
        return None
    raw = read_yaml(Path(path))
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with gpus, cpu and fits")
    try:
        return PriceFile.model_validate(raw)
    except ValidationError as e:
        raise validation_error(path, e) from None


def emulated_gpu(gpus: list[BudgetGpu], source: str | None, name: str) -> dict[str, object]:
    """The fits GPU table's entry for `--emulate NAME` (case-insensitive; a part of the name will do), as the
    fields of an EmulatedGpu; a GPU without a compute capability cannot be emulated. `source`: the file read."""
    want = name.strip().lower()
    found = [g for g in gpus if g.name.lower() == want] or [g for g in gpus if want and want in g.name.lower()]
    where = rel_path(source, REPO_ROOT) if source else "the price file"
    if len(found) != 1:
        names = ", ".join(g.name for g in gpus) or "none"
        what = "matches several GPUs" if found else "is not in"
        raise UserError(f"--emulate {name}: {what} the fits GPU table of {where} (fits.gpus: {names})")
    g = found[0]
    if g.compute_capability is None:
        raise UserError(f"--emulate {name}: {where} gives {g.name} no compute_capability; add it to emulate it")
    return {"name": g.name, "memory_mib": g.memory_gib * MIB_PER_GIB, "compute_capability": list(g.cc or ())}


def emulated_gpus(prices: str) -> Callable[[str], dict[str, object]]:
    """`axes.emulate`'s lookup for a spec's `prices:` file: name -> an EmulatedGpu's fields (the file must exist)."""
    path = prices_path(prices)
    data = read_price_file(path, required=True)
    assert data is not None
    return lambda name: emulated_gpu(list(data.fits.gpus), str(path), name)
