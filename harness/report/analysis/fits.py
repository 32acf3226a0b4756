"""Fits on: the one verdict per configuration and team GPU, used by the report, its answer and results.csv.

A configuration fits a GPU in the dtype that GPU trains it in (harness.dtypes: the user's dtype, else bf16
where native and fp16 below 8.0), never in the dtype it happened to be measured in elsewhere. Evidence, best
first:
1. capability: what cannot run there at all (the backend's kernels, bitsandbytes, non-native bf16): no;
2. an emulated run of the same request on that GPU (`--emulate`): ok fits, out of memory does not;
3. the configuration's own measured peak plus the margin, when it was measured in that dtype;
4. the memory model's prediction in that dtype (`lora-harness report` adds it; the sweep's parent, which never
   imports torch, does not);
5. else unknown (UNKNOWN_HINT says what would settle it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.dtypes import dtype_problem, train_dtype
from harness.fmt import gib
from harness.report.prices import MIB_PER_GIB, BudgetGpu, Fit, GpuFit, PriceTable

UNKNOWN_HINT = (
    "unknown: not measured in the dtype that GPU trains in; a run with --emulate GPU settles it, and"
    " `lora-harness report FOLDER` adds the memory model's prediction"
)
Predicted = dict[str, list[Any]]  # cell id -> [(FitVerdict | reason, token note)], harness.report.analysis.memory


def model_gpu_names(name: str) -> set[str]:
    """The memory model's names (harness.memory.gpus) for a fits-table GPU name ('T4' -> {'Tesla T4'})."""
    from harness.memory.gpus import GPUS

    want = name.lower()
    return {g.name for g in GPUS.values() if g.key.lower() in want or g.name.lower() == want}


def config_id(run: Any) -> str:
    """The request minus the repeat index and the emulated GPU: an emulated run's configuration."""
    req = run.request.key_fields()
    req.pop("repeat", None)
    req.pop("emulate", None)
    return json.dumps(req, sort_keys=True, default=str)


def measured_dtype(run: Any) -> str | None:
    """The dtype a run trained in: read back from its model, else its request by the rule on its GPU."""
    eff = run.result.effective
    if eff is not None and eff.dtype:
        return eff.dtype
    env = run.result.environment
    cc = None
    if env is not None and env.compute_capability:
        major, _, minor = env.compute_capability.partition(".")
        cc = (int(major), int(minor or 0))
    return train_dtype(run.request.train.dtype, cc, run.device or "cuda")


def capability_problem(cell: Any, g: BudgetGpu, dtype: str) -> str | None:
    """What cannot run on `g` at all: the backend's kernels, bitsandbytes (at the version the run recorded),
    a dtype that GPU lacks."""
    from harness.backends import REGISTRY  # light: the backends import torch only when they load a model
    from harness.backends.base import bnb_min_capability

    cc = g.cc
    if cc is None:
        return None
    b = REGISTRY.get(cell.backend)
    if b is not None and b.min_compute_capability and cc < b.min_compute_capability:
        need = ".".join(map(str, b.min_compute_capability))
        return f"{cell.backend} needs compute capability {need}; the {g.name} has {g.compute_capability:.1f}"
    if cell.quant == "nf4":
        v = cell.first.packages.get("bitsandbytes")
        need_bnb = bnb_min_capability(v)
        if cc < need_bnb:
            return (f"nf4 (bitsandbytes{' ' + v if v else ''}) needs compute capability {need_bnb[0]}.{need_bnb[1]};"
                    f" the {g.name} has {g.compute_capability:.1f}")  # fmt: skip
    return dtype_problem(dtype, cc, f"the {g.name}")


def _emulated_verdict(emu: Any, g: BudgetGpu, dtype: str) -> GpuFit | None:
    """An emulated run's outcome, when it reached a verdict (ok, or out of memory under the cap)."""
    ok = [r for r in emu.runs if r.ok]
    if ok:
        peak = max((r.user_peak.mib or 0.0) for r in ok)
        cap = ok[0].result.emulation.cap_mib if ok[0].result.emulation is not None else None
        under = f" under a {gib(cap)} allocator cap" if cap else ""
        return GpuFit(g.name, dtype, True, "emulated", f"fits in {dtype}: ran{under} (peak {gib(peak)} here)")
    oom = [r for r in emu.runs if r.status == "oom"]
    if oom:
        reason = (oom[0].result.reason or "out of memory").split(":")[0]
        return GpuFit(g.name, dtype, False, "emulated", f"does not fit in {dtype}: {reason} under emulation")
    return None


def _predicted_verdict(preds: list[Any], g: BudgetGpu, dtype: str) -> GpuFit | None:
    names = model_gpu_names(g.name)
    for v, _tokens in preds:
        if isinstance(v, str) or v.gpu not in names or v.dtype != dtype:
            continue
        word = "fits" if v.fits else "does not fit"
        return GpuFit(g.name, dtype, bool(v.fits), "predicted",
                      f"{word} in {dtype} (memory model: {gib(v.predicted_mib)} of {gib(v.memory_mib)})")  # fmt: skip
    return None


def gpu_verdict(cell: Any, g: BudgetGpu, margin: float, emulated: Any | None, preds: list[Any]) -> GpuFit:
    """The verdict for one configuration on one team GPU (see the module's docstring for the order)."""
    here = measured_dtype(cell.first)
    cc = g.cc
    dtype = train_dtype(cell.first.request.train.dtype, cc) if cc is not None else (here or "?")
    problem = capability_problem(cell, g, dtype)
    if problem:
        return GpuFit(g.name, dtype, False, "capability", problem)
    if emulated is not None and (v := _emulated_verdict(emulated, g, dtype)) is not None:
        return v
    peak = cell.peak.mib
    if peak is not None and here == dtype and cell.device != "cpu":
        need = peak * (1 + margin)
        ok = need <= g.memory_gib * MIB_PER_GIB
        word = "fits" if ok else "does not fit"
        where = f" on the {cell.gpu_name}" if cell.gpu_name else ""
        return GpuFit(g.name, dtype, ok, "measured",
                      f"{word} in {dtype}: measured{where} {gib(peak)}, {gib(need)} with the margin")  # fmt: skip
    if (v := _predicted_verdict(preds, g, dtype)) is not None:
        return v
    return GpuFit(g.name, dtype, None, "unknown", f"unknown in {dtype}: measured only in {here}")


def assign(cells: Sequence[Any], prices: PriceTable, predicted: Predicted | None = None) -> None:
    """Set every non-emulated cell's `fit` (emulated cells are evidence for the others, not contenders)."""
    by_config: dict[tuple[str, str], Any] = {}
    for c in cells:
        emu = c.first.request.emulate
        if emu is not None:
            by_config[(config_id(c.first), emu.name)] = c
    for c in cells:
        if c.first.request.emulate is not None:
            c.fit = None
            continue
        if not c.ok:
            c.fit = None
            continue
        if c.device == "cpu":
            c.fit = Fit(None, None, None, {}, applicable=False)
            continue
        peak = c.peak
        fit = Fit(peak.mib, peak.measure, peak.mib * (1 + prices.margin) if peak.mib is not None else None, {})
        cid = config_id(c.first)
        for g in prices.budget_gpus:
            v = gpu_verdict(c, g, prices.margin, by_config.get((cid, g.name)), (predicted or {}).get(c.id, []))
            fit.gpus[g.name] = v
            fit.fits[g.name] = v.fits is True
            if v.basis == "capability":
                fit.cannot_run[g.name] = v.why
        c.fit = fit
