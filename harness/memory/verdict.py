"""Does it fit: a predicted peak against a GPU's memory and capabilities.

fits_on(predict(config, settings, gpu="T4"), "T4") -> FitVerdict
fit_table(config, settings) -> one FitVerdict per team GPU and dtype it trains in
largest(config, settings, "T4", "batch") -> the largest batch that fits (None: not even 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.backends import REGISTRY
from harness.backends.base import bnb_min_capability, bnb_version
from harness.dtypes import dtype_problem
from harness.memory.coefficients import Coefficients
from harness.memory.gpus import GPU, TEAM_GPUS
from harness.memory.gpus import gpu as find_gpu
from harness.memory.model import PredictedPeak, Settings, predict


@dataclass(frozen=True)
class FitVerdict:
    gpu: str
    dtype: str  # the dtype assumed on this GPU
    fits: bool  # capability ok and the predicted NVML process peak is within the GPU's memory
    capability_ok: bool
    predicted_mib: float  # the largest predicted NVML process peak over train and generate
    peak_phase: str
    memory_mib: float
    headroom_mib: float  # memory - predicted (negative: that much short)
    calibrated: bool
    reason: str  # one line
    measured_mib: float | None = None  # a run measured on this GPU, shown beside the prediction


def capability_problem(g: GPU, settings: Settings) -> str | None:
    cc = g.compute_capability
    backend = REGISTRY.get(settings.backend)
    if backend is not None and backend.min_compute_capability and cc < backend.min_compute_capability:
        need = ".".join(map(str, backend.min_compute_capability))
        return f"{settings.backend} needs compute capability {need} or higher; {g.name} has {g.cc}"
    if settings.quant == "nf4" and cc < (need_bnb := bnb_min_capability(bnb_version())):
        # the installed bitsandbytes, or the pinned [gpu] extra's where none is: no Maxwell wheels from 0.48.0
        need = ".".join(map(str, need_bnb))
        return f"nf4 (bitsandbytes) needs compute capability {need} or higher; {g.name} has {g.cc}"
    return dtype_problem(settings.dtype, cc, g.name)


def fits_on(prediction: dict[str, PredictedPeak], gpu: str | GPU, measured_mib: float | None = None) -> FitVerdict:
    """The verdict for a prediction made for `gpu` (predict(..., gpu=gpu))."""
    g = gpu if isinstance(gpu, GPU) else find_gpu(gpu)
    peaks = list(prediction.values())
    if not peaks or any(p.gpu != g.name for p in peaks):
        raise ValueError(f"the prediction was made for {peaks[0].gpu if peaks else 'no GPU'}, not {g.name}")
    top = max(peaks, key=lambda p: p.nvml_process_mib)
    settings = top.settings
    problem = capability_problem(g, settings)
    headroom = g.memory_mib - top.nvml_process_mib
    if problem:
        reason = problem
    elif headroom >= 0:
        reason = (f"fits: {top.phase} peak {top.nvml_process_mib:,.0f} of {g.memory_mib:,.0f} MiB "
                  f"({headroom:,.0f} MiB left) in {settings.dtype}")  # fmt: skip
    else:
        reason = (f"does not fit: {top.phase} peak {top.nvml_process_mib:,.0f} MiB, {-headroom:,.0f} more "
                  f"than the {g.memory_mib:,.0f} MiB there, in {settings.dtype}")  # fmt: skip
    return FitVerdict(
        gpu=g.name,
        dtype=settings.dtype,
        fits=problem is None and headroom >= 0,
        capability_ok=problem is None,
        predicted_mib=top.nvml_process_mib,
        peak_phase=top.phase,
        memory_mib=g.memory_mib,
        headroom_mib=headroom,
        calibrated=all(p.calibrated for p in peaks),
        reason=reason,
        measured_mib=measured_mib,
    )


def fit_table(
    config: dict[str, Any],
    settings: Settings,
    gpus: tuple[str, ...] = TEAM_GPUS,
    coefficients: Coefficients | None = None,
    measured: dict[tuple[str, str], float] | None = None,
) -> list[FitVerdict]:
    """One verdict per GPU and each dtype it trains in (its assumption first). `measured`: NVML peaks
    of runs measured on a GPU, keyed by (GPU name, dtype), shown beside the prediction."""
    rows = []
    for key in gpus:
        g = find_gpu(key)
        for dtype in g.dtypes:
            s = settings.with_(dtype=dtype)
            pred = predict(config, s, g, coefficients)
            rows.append(fits_on(pred, g, (measured or {}).get((g.name, dtype))))
    return rows


def largest(
    config: dict[str, Any],
    settings: Settings,
    gpu: str | GPU,
    what: str,
    coefficients: Coefficients | None = None,
    limit: int = 4096,
) -> int | None:
    """The largest batch (or rank) that fits on `gpu` with the other settings kept; None when 1 does not."""
    if what not in ("batch", "rank"):
        raise ValueError("what: batch or rank")
    g = gpu if isinstance(gpu, GPU) else find_gpu(gpu)

    def ok(n: int) -> bool:
        return fits_on(predict(config, settings.with_(**{what: n}), g, coefficients), g).fits

    if not ok(1):
        return None
    lo, hi = 1, 2
    while hi <= limit and ok(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, limit + 1)
    while hi - lo > 1:  # ok(lo), not ok(hi)
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo
