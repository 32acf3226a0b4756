"""The answer in one paragraph, at the top: which model, rank, backend and quantisation; the team's GPUs it
fits; the projected time and cost of the team's job; how sure; what would change it."""

from __future__ import annotations

from harness.backends import PLAIN
from harness.fmt import gib, human_span, human_time, join_and, money, pct
from harness.labels import run_label
from harness.report.analysis.decision import CLEAR, LIKELY, Decision
from harness.report.analysis.fits import measured_dtype
from harness.report.analysis.memory import cannot_run_phrase, fits_phrase
from harness.report.render import Link, Section
from harness.report.sections.base import Context
from harness.setting_axes import setting_words

QUANT_WORDS = {"none": "no quantisation", "nf4": "4-bit nf4 quantisation"}
MEASURE_WORDS = {"nvml process": "NVML per-process peak", "torch reserved": "torch max reserved"}


def answer_text(ctx: Context) -> str:
    cells = ctx.analysis.cells
    if cells and all(c.first.request.emulate is not None for c in cells):
        return emulated_answer(cells)
    d = ctx.analysis.decision
    first = d.first
    if first is None:
        return "No configuration finished ok: there is nothing to choose from (see Failed and unsupported runs)."
    c = first.cell
    what = f"LoRA rank {c.rank}, backend {c.backend}, {QUANT_WORDS.get(c.quant, 'quantisation ' + c.quant)}"
    what += "".join(f", {w}" for w in setting_words(c.first.request.train, c.first.shown))  # the varied settings
    n_conf = len(d.models[0].rows)
    share = d.confidence or 0.0
    if d.single_model and n_conf == 1:
        head = f"One configuration of {c.candidate} finished ok: {what}."
    elif d.single_model:
        head = f"Of the {n_conf} configurations of {c.candidate} measured, use {what}."
    elif share >= LIKELY:
        head = f"Use {c.candidate} at {what}."
    else:
        shares = join_and(f"{m.name} in {pct(m.first_share)}" for m in d.models if m.first_share >= 0.01)
        head = (
            f"No clear winner between the models: first in {d.resamples:,} bootstrap resamples ({_over(d)}) are"
            f" {shares}. By score: {c.candidate} at {what}."
        )
    parts = [head]
    if c.shape:
        parts.append("Shape mode (random weights): the time and memory below are real, quality is not.")
    parts += [_fits(ctx), _job(ctx), _sure(ctx)]
    if d.changes:
        parts.append("What would change it: " + "; ".join(d.changes) + ".")
    return " ".join(p for p in parts if p)


def emulated_answer(cells: list) -> str:
    """A folder of emulated runs answers which configurations fit each emulated GPU, not which to choose: their
    time is the measuring GPU's."""
    groups: dict[tuple[str, str], tuple[list[str], list[str], list[str]]] = {}
    for c in cells:
        r = c.first
        key = (r.request.emulate.name, measured_dtype(r) or r.request.train.dtype)
        fit, no, other = groups.setdefault(key, ([], [], []))
        what = run_label(c.candidate, c.rank, c.backend if c.backend != PLAIN else None,
                         c.quant if c.quant != "none" else None)  # fmt: skip
        (fit if c.ok else no if any(x.status in ("oom", "unsupported") for x in c.runs) else other).append(what)
    parts = ["Every run here emulated a smaller GPU on this one (its memory capped at that GPU's less its CUDA"
             " context): this folder says what fits, not what to choose; its times are this GPU's."]  # fmt: skip
    for (gpu, dtype), (fit, no, other) in sorted(groups.items()):
        line = f"On the {gpu} in {dtype}, {len(fit)} of {len(fit) + len(no) + len(other)} configurations fit"
        line += f"; not {join_and(no)}" if no else ""
        line += f"; no verdict for {join_and(other)}" if other else ""
        parts.append(line + ".")
    return " ".join(parts)


def _over(d: Decision) -> str:
    what = ["training steps"]
    if any(r.cell.repeats > 1 for r in d.rows):
        what.append("repeats")
    if "quality" in d.used:
        what.append("prompts")
    return "over " + join_and(what)


def _fits(ctx: Context) -> str:
    c = ctx.analysis.decision.first.cell  # type: ignore[union-attr]
    if c.device == "cpu":
        host = f" (host memory peaked at {gib(c.peak.mib)})" if c.peak.mib is not None else ""
        return f"These runs were CPU-only: no GPU memory was measured{host}."
    if c.peak.mib is None or c.fit is None:
        return "Its memory was not measured, so which GPUs it fits is unknown."
    where = f" on the {c.gpu_name}" if c.gpu_name else ""
    dtype = measured_dtype(c.first)
    where += f" in {dtype}" if dtype else ""
    measure = MEASURE_WORDS.get(c.peak.measure or "", c.peak.measure)
    peak = (
        f"Its fine-tune and answers peaked at {gib(c.peak.mib)}{where} ({measure}),"
        f" {gib(c.fit.needed_mib)} with the {ctx.prices.margin:.0%} margin."
    )
    phrase = fits_phrase(c.fit, ctx.prices)
    if phrase is None:
        return f"{peak} The price file lists none of the team's GPUs."
    why = cannot_run_phrase(c.fit)
    return f"It {phrase}" + (f" ({why})" if why else "") + f". {peak}"


def _job(ctx: Context) -> str:
    a = ctx.analysis
    c = a.decision.first.cell  # type: ignore[union-attr]
    p = c.projection
    if p is None or c.job_time.mean is None:
        return "Its fine-tune time could not be projected (no timed steady steps)."
    jt = c.job_time
    steady = c.steady.mean * p.scale  # type: ignore[operator]
    where = f"the {c.gpu_name}" if c.gpu_name else ("this CPU machine" if c.device == "cpu" else "the device measured")
    job = (
        f"Its fine-tune as measured ({p.steps} steps; the spec names no `job:` to project)"
        if a.job is None
        else f"The team's job ({p.text})"
    )
    txt = (
        f"{job} takes {human_span(jt.mean, jt.lo, jt.hi)} on {where}: {human_time(c.one_time.mean)} one-time cost"
        f" + {p.steps:,} steps x {steady:.3f} s"
    )
    if p.approximate:
        txt += " (steady step scaled from the measured batch size: an approximation)"
    if c.job_cost.mean is not None and c.cost is not None:
        cur = ctx.currency
        span_c = f" [{money(c.job_cost.lo, cur)}, {money(c.job_cost.hi, cur)}]" if c.job_cost.lo is not None else ""
        txt += f", {money(c.job_cost.mean, cur)}{span_c} at {money(c.cost.per_hour, cur)} an hour ({c.cost.price_name})"
    return txt + "."


def _sure(ctx: Context) -> str:
    d = ctx.analysis.decision
    first = d.first
    assert first is not None
    out = []
    if not d.single_model:
        if (d.confidence or 0.0) >= LIKELY:
            v = "a clear choice" if (d.confidence or 0.0) >= CLEAR else "likely, not certain"
            out.append(
                f"How sure: {first.model} is first in {pct(d.confidence)} of {d.resamples:,} bootstrap"
                f" resamples ({_over(d)}): {v}"
            )
        if d.unclear:
            out.append(f"No clear winner on {join_and(d.unclear)} between the models (95% intervals overlap)")
    n = len(d.models[0].rows)
    if n > 1:
        share = d.config_confidence or 0.0
        lead = "How sure: among" if d.single_model else "Among"
        s = f"{lead} its {n} configurations, {first.cell.config} is first in {pct(share)} of resamples"
        if d.single_model:
            s += f" ({_over(d)})"
        if d.config_unclear:
            s += f"; no clear winner on {join_and(d.config_unclear)}"
        elif share < CLEAR:
            s += "; the configurations are close on the score"
        out.append(s)
    elif d.single_model:
        out.append("One configuration was measured: there was nothing to compare it with")
    return ". ".join(out) + "." if out else ""


def build(ctx: Context) -> Section:
    s = Section("answer", "The answer")
    s.p(answer_text(ctx), "choice")
    first = ctx.analysis.decision.first
    adapter = next((r.result.adapter for r in first.cell.ok_runs if r.result.adapter), None) if first else None
    if adapter:  # --save-adapters (harness.bench with one model): the winner, ready to load with peft
        s.add(Link("Its LoRA adapter (PEFT layout, load with PeftModel.from_pretrained): ", f"{adapter}/"))
    return s
