"""Memory the team needs: the peak over the user's work, and the team's GPUs it fits.

"Fits on" uses only the user's work phases (harness.phases.USER_WORK: fine-tune, answers); the
harness's scoring pass (answer likelihoods over the whole vocabulary) can be larger and is shown apart.
The verdict per team GPU (in the dtype that GPU trains in) is harness.report.analysis.fits'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.fmt import join_and
from harness.report.load import Mem, Run
from harness.report.prices import BudgetGpu, Fit, PriceTable


def peak_of(runs: Sequence[Run]) -> Mem:
    """The largest user-work peak over the runs (repeats of one cell): what the configuration needs."""
    mems = [m for r in runs if (m := r.user_peak).mib is not None]
    return max(mems, key=lambda m: m.mib or 0.0) if mems else Mem(None, None)


def scoring_of(runs: Sequence[Run]) -> Mem:
    mems = [m for r in runs if (m := r.scoring_peak).mib is not None]
    return max(mems, key=lambda m: m.mib or 0.0) if mems else Mem(None, None)


def predicted(cells: Sequence[Any]) -> dict[str, list[Any]]:
    """The memory model's verdict for each ok cell on each team GPU, in the dtype that GPU trains in.

    harness.memory counts activations with torch on the CPU (cached after the first count): this is called
    by `lora-harness report`, never by the sweep's parent, which does not import torch.
    """
    from harness.memory import TEAM_GPUS, fit_table
    from harness.memory.gpus import gpu_for_name
    from harness.memory.runs import config_from_run, measured_peak, settings_from_run, token_lengths

    out: dict[str, list[Any]] = {}
    for c in cells:
        if not c.ok_runs and c.first.request.emulate is None:
            continue
        run = c.first.result.to_dict()  # an emulated cell that ran out of memory: its request and token lengths
        # The run's own token lengths: recorded by newer runs (the longest row, as its tokenizer cut it),
        # recomputed from the data file and tokenizer for older ones; unknown -> the model's worst case.
        seq, prompt, how = (run.get("weights") or {}).get("train_tokens_max"), None, "recorded"
        if seq is None:
            try:
                seq, prompt, _, _ = token_lengths(run)
                how = "recomputed"
            except Exception:
                seq, how = None, "unknown: padded to max_length (worst case)"
        try:
            settings = settings_from_run(run, seq_len=seq, prompt_len=prompt)
            # the GPU the run measured on too, when the model knows it: its prediction beside the measurement
            here = gpu_for_name((run.get("environment") or {}).get("gpu_name"))
            gpus = TEAM_GPUS + ((here.key,) if here is not None and here.key not in TEAM_GPUS else ())
            verdicts = fit_table(config_from_run(run), settings, gpus, measured=measured_peak(run))
        except Exception as e:  # one configuration the model cannot take must not sink the report
            out[c.id] = [(f"no prediction: {str(e).splitlines()[0][:200] if str(e) else type(e).__name__}", how)]
            continue
        out[c.id] = [(v, how) for v in verdicts]
    return out


def smallest_fit(fit: Fit, prices: PriceTable) -> BudgetGpu | None:
    """The team's GPU with the least memory that the configuration fits on."""
    ok = [g for g in prices.budget_gpus if fit.fits.get(g.name)]
    return min(ok, key=lambda g: g.memory_gib) if ok else None


BASIS_WORDS = {
    "emulated": ", an emulated run",
    "measured": ", measured",
    "predicted": ", the memory model's prediction",
}


def fits_phrase(fit: Fit, prices: PriceTable) -> str | None:
    """'fits the T4 (in fp16); of the others it fits the L4 and A10G, not the Quadro M6000 (<backend> needs ...)':
    the price file's first GPU (the team's own, by the file's convention) by name and dtype, then the others;
    a GPU whose verdict is unknown is named as such (harness.report.analysis.fits)."""
    gpus = prices.budget_gpus
    if not fit.applicable or fit.needed_mib is None or not gpus:
        return None
    first, others = gpus[0], gpus[1:]
    v = fit.gpus.get(first.name)
    dtype = f" (in {v.dtype}{BASIS_WORDS.get(v.basis, '')})" if v is not None else ""
    state = v.fits if v is not None else fit.fits.get(first.name)
    head = {True: "fits", False: "does not fit", None: "may or may not fit"}[state] + f" the {first.name}{dtype}"
    if state is None:
        head += " (not measured in that dtype)"
    if not others:
        return head

    def names(want: bool | None) -> list[str]:
        return [
            g.name for g in others if (fit.gpus[g.name].fits if g.name in fit.gpus else fit.fits.get(g.name)) is want
        ]

    yes, no, unknown = names(True), names(False), names(None)
    parts = []
    if yes and not no and not unknown:
        parts.append("every other listed GPU")
    elif yes:
        parts.append(f"of the others the {join_and(yes)}")
    if no:
        parts.append(("not " if yes else "none of ") + f"the {join_and(no)}")
    tail = ", ".join(parts) if parts else ""
    if unknown:
        tail += ("; " if tail else "") + f"unknown on the {join_and(unknown)}"
    joiner = " and " if state and yes and not no and not unknown else "; "
    return f"{head}{joiner}{tail}" if tail else head


def cannot_run_phrase(fit: Fit) -> str | None:
    """'<backend> needs compute capability 7.0; the Quadro M6000 has 5.2' for the GPUs ruled out by capability."""
    return "; ".join(fit.cannot_run.values()) or None
