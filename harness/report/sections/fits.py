"""Fits on: the team's GPUs each configuration fits, from the peak of the user's work only.

The measured peak is the input today; `harness.report.analysis.memory.needed` is the one place a memory
model's estimate (another batch, another GPU) would replace it.
"""

from __future__ import annotations

from harness.fmt import gib, join_and
from harness.report.analysis.memory import smallest_fit
from harness.report.render import Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("fits", "Fits on")
    p = ctx.prices
    gpus = p.budget_gpus
    s.p(
        "A configuration fits a GPU when the peak of the user's work (fine-tune and answers: NVML per-process"
        f" peak, else torch max reserved) plus a margin of {p.margin:.0%} is at most the GPU's memory. The"
        " harness's own scoring pass (answer likelihoods over the whole vocabulary) is shown apart: it never"
        " sets 'fits on'. The measured table checks memory (a run measured on a larger GPU may have cached"
        " more than it needs) and the backend's compute capability where the price file gives a GPU's; the"
        " memory model's table predicts each team GPU in the dtype it trains in (no bf16"
        " before Ampere: fp32 or fp16 on the Quadro M6000, fp16 on the T4) and checks kernel support (Unsloth"
        " and Liger need compute capability 7.0)."
    )
    if ctx.all_cpu:
        s.p("Not applicable: these are CPU-only runs (no GPU memory was measured).", "note")
        return s
    if ctx.predicted:
        s.add(predicted_table(ctx, [c for c in ctx.analysis.cells if c.ok]))
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
        + ". results.csv has a yes/no column per GPU."
    )
    rows = []
    cells = [c for c in ctx.analysis.cells if c.ok]
    for c in cells:
        fit = c.fit
        if fit is None or not fit.applicable:
            rows.append([c.label, None, None, None, "n/a (CPU run)", None, None, None])
            continue
        no = [g.name + (" (compute capability)" if g.name in fit.cannot_run else "")
              for g in gpus if fit.needed_mib is not None and not fit.fits.get(g.name)]  # fmt: skip
        small = smallest_fit(fit, p)
        rows.append(
            [
                c.label,
                gib(c.peak.mib),
                f"{c.peak.measure} ({c.peak.phase})" if c.peak.phase else c.peak.measure,
                gib(fit.needed_mib),
                fit.fits_on or None,
                small.name if small else ("none" if fit.needed_mib else None),
                join_and(no) or ("none" if fit.needed_mib is not None else None),
                gib(c.scoring.mib) if c.scoring.mib is not None else "not run",
            ]
        )
    cols = [
        "configuration",
        "user-work peak",
        "measure (phase)",
        f"peak + {p.margin:.0%}",
        "fits on",
        "smallest team GPU",
        "does not fit",
        "scoring pass peak (apart)",
    ]
    s.add(Table(cols, rows, shape=any(c.shape for c in cells), empty="No ok runs."))
    return s


def predicted_table(ctx: Context, cells: list) -> Table:
    """Predicted vs measured for each team GPU, in the dtype that GPU trains in (harness/memory)."""
    rows = []
    for c in cells:
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
