"""Fits on: the team's GPUs each configuration fits, in the dtype each trains in (harness.report.analysis.fits)."""

from __future__ import annotations

from harness.fmt import gib
from harness.report.analysis.fits import UNKNOWN_HINT, measured_dtype, model_gpu_names
from harness.report.analysis.memory import smallest_fit
from harness.report.render import Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("fits", "Fits on")
    p = ctx.prices
    gpus = p.budget_gpus
    s.p(
        "A configuration fits a team GPU in the dtype that GPU trains it in (dtype auto: bf16 where native, compute"
        " capability 8.0 and up; fp16 below, so on the T4 and the Quadro M6000), never in the dtype it happened to"
        " be measured in elsewhere. The evidence, best first: what cannot run there at all (the backend's kernels,"
        " bitsandbytes, non-native bf16); an emulated run of the same request on that GPU (--emulate: the"
        " allocator capped at its memory less its CUDA context; time stays the measuring GPU's); the measured"
        f" user-work peak plus a margin of {p.margin:.0%}, when it was measured in that dtype; the memory model's"
        " prediction in that dtype; else unknown. The harness's own scoring pass never sets 'fits on'."
    )
    if ctx.all_cpu:
        s.p("Not applicable: these are CPU-only runs (no GPU memory was measured).", "note")
        return s
    contenders = [c for c in ctx.analysis.cells if c.ok and c.first.request.emulate is None]
    if not contenders and any(c.first.request.emulate is not None for c in ctx.analysis.cells):
        s.p("Every run here emulated a GPU: each one's verdict is in the table below.", "note")
        s.add(emulated_table([c for c in ctx.analysis.cells if c.first.request.emulate is not None], ctx.predicted))
        return s
    if ctx.predicted:
        s.add(predicted_table(ctx, contenders))
    else:
        s.p(
            "The memory model's prediction for each team GPU (in the dtype it trains in): run lora-harness report"
            " on this folder to add it here.",
            "note",
        )
    if not gpus:
        s.p("The price file lists no budget GPUs (fits.gpus).", "note")
        return s
    s.p(
        "Team GPUs (from the price file, editable): "
        + ", ".join(f"{g.name} {g.memory_gib:g} GiB" for g in gpus)
        + ". results.csv has a yes/no/unknown column per GPU, with the dtype and the basis of each verdict."
    )
    rows = []
    cells = [c for c in ctx.analysis.cells if c.ok and c.first.request.emulate is None]
    for c in cells:
        fit = c.fit
        if fit is None or not fit.applicable:
            rows.append([c.label, None, None, None, *(["n/a (CPU run)"] + [None] * (len(gpus) - 1)), None])
            continue
        small = smallest_fit(fit, p)
        verdicts = [f"{v.why} ({v.basis})" if (v := fit.gpus.get(g.name)) is not None else None for g in gpus]
        dtype = measured_dtype(c.first)
        rows.append(
            [
                c.label,
                f"{gib(c.peak.mib)} in {dtype}" if dtype else gib(c.peak.mib),
                f"{c.peak.measure} ({c.peak.phase})" if c.peak.phase else c.peak.measure,
                small.name if small else ("none" if fit.needed_mib else None),
                *verdicts,
                gib(c.scoring.mib) if c.scoring.mib is not None else "not run",
            ]
        )
    cols = ["configuration", "user-work peak (measured)", "measure (phase)", "smallest team GPU",
            *(g.name for g in gpus), "scoring pass peak (apart)"]  # fmt: skip
    s.add(Table(cols, rows, shape=any(c.shape for c in cells), empty="No ok runs."))
    if any(c.fit is not None and c.fit.unknown for c in cells):
        s.p(UNKNOWN_HINT[0].upper() + UNKNOWN_HINT[1:] + ".", "note")
    emulated = [c for c in ctx.analysis.cells if c.first.request.emulate is not None]
    if emulated:
        s.add(emulated_table(emulated, ctx.predicted))
    return s


def emulated_table(cells: list, predicted: dict) -> Table:
    """Each emulated run: the GPU, its dtype, the cap, what happened, and beside it the memory model's
    prediction for that GPU and dtype and the team's own T4 figure (a different measure: memory allocated
    after training, not the peak)."""
    rows = []
    for c in cells:
        preds = predicted.get(c.id, [])
        for r in c.runs:
            emu, want = r.result.emulation, r.request.emulate
            dtype = measured_dtype(r)
            names = model_gpu_names(want.name)
            pv = next((v for v, _ in preds if not isinstance(v, str) and v.gpu in names and v.dtype == dtype), None)
            pred = (f"{'fits' if pv.fits else 'does not fit'}: {gib(pv.predicted_mib)} ({pv.peak_phase})"
                    if pv is not None else None)  # fmt: skip
            team = ((r.info.get("published") or {}).get("finetune_mb") or {}).get(str(r.rank))
            if team is None:
                team = ((r.info.get("published") or {}).get("finetune_mb") or {}).get(r.rank)
            measured = "ran" if r.ok else ("out of memory" if r.status == "oom" else r.status_text)
            rows.append(
                [
                    r.label,
                    want.name,
                    dtype,
                    gib(emu.cap_mib) if emu is not None else None,
                    measured,
                    gib(r.user_peak.mib) if r.user_peak.mib is not None else None,
                    pred,
                    f"{team:,.0f} MB" if team is not None and "T4" in want.name else None,
                    (r.result.reason or "").split(": CUDA out of memory")[0] if not r.ok else None,
                ]
            )
    cols = ["run", "emulated GPU", "dtype", "allocator cap", "emulated verdict", "user-work peak here (NVML)",
            "memory model", "team's T4 (allocated after training)", "why"]  # fmt: skip
    return Table(cols, rows, title="Emulated runs: memory capped at the GPU's, time this GPU's", empty="None.")


def predicted_table(ctx: Context, cells: list) -> Table:
    """Predicted vs measured for each team GPU, in the dtype that GPU trains in (harness/memory)."""
    rows = []
    for c in cells:
        if c.first.request.emulate is not None:
            continue
        for v, tokens in ctx.predicted.get(c.id, []):
            if isinstance(v, str):  # the model could not predict this configuration: say why
                rows.append([c.label, None, None, None, None, None, v, None, tokens])
                continue
            rows.append(
                [
                    c.label,
                    v.gpu,
                    v.dtype,
                    f"{gib(v.predicted_mib)} ({v.peak_phase})",
                    gib(v.measured_mib) if v.measured_mib is not None else "not measured there",
                    "yes" if v.fits else "no",
                    v.reason,
                    "yes" if v.calibrated else "no (theory and counting only)",
                    tokens,
                ]
            )
    cols = ["configuration", "GPU", "assumed dtype", "predicted peak (NVML process)", "measured",
            "fits", "why", "calibrated", "token lengths"]  # fmt: skip
    return Table(
        cols,
        rows,
        title="Predicted by the memory model (harness/memory): each GPU in the dtype it trains in",
        empty="No ok runs.",
    )
