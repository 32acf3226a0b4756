"""Memory the team needs: the peak over the user's work, and the team's GPUs it fits.

"Fits on" uses only the user's work phases (harness.phases.USER_WORK: fine-tune, answers); the
harness's scoring pass (answer likelihoods over the whole vocabulary) can be larger and is shown apart.
This module is the one place that decides what a configuration needs: when the memory model
(harness/memory/) is wired in, `needed` is where its estimate for another GPU or batch replaces the
measured peak.
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
        if not c.ok_runs:
            continue
        run = c.first.result.to_dict()
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


def needed(
    peak: Mem, device: str | None, prices: PriceTable, backend: str | None = None,
    quant: str | None = None, packages: dict[str, str | None] | None = None,
) -> Fit:  # fmt: skip
    """Does the measured user-work peak (plus the price file's margin) fit each of the team's GPUs, and can
    the run run there at all? Unsloth's and Liger's kernels need compute capability 7.0; nf4 needs
    bitsandbytes, 6.0 at the version the run recorded (`packages`) from 0.48.0 on (no Maxwell wheels)."""
    from harness.backends import REGISTRY  # light: the backends import torch only when they load a model
    from harness.backends.base import bnb_min_capability

    b = REGISTRY.get(backend) if backend else None
    needs: list[tuple[tuple[int, int], str]] = []
    if b is not None and b.min_compute_capability:
        needs.append((b.min_compute_capability, backend or "the backend"))
    if quant == "nf4":
        v = (packages or {}).get("bitsandbytes")
        needs.append((bnb_min_capability(v), f"nf4 (bitsandbytes{' ' + v if v else ''})"))
    need, who = max(needs) if needs else (None, backend or "the backend")
    return prices.fit(peak.mib, peak.measure, device, need, who)


def smallest_fit(fit: Fit, prices: PriceTable) -> BudgetGpu | None:
    """The team's GPU with the least memory that the configuration fits on."""
    ok = [g for g in prices.budget_gpus if fit.fits.get(g.name)]
    return min(ok, key=lambda g: g.memory_gib) if ok else None


def fits_phrase(fit: Fit, prices: PriceTable) -> str | None:
    """'fits the T4 and every other listed GPU but the Quadro M6000': the price file's first GPU (the team's
    own, by the file's convention) by name, then the others."""
    gpus = prices.budget_gpus
    if not fit.applicable or fit.needed_mib is None or not gpus:
        return None
    first, others = gpus[0], gpus[1:]
    yes = [g.name for g in others if fit.fits.get(g.name)]
    no = [g.name for g in others if not fit.fits.get(g.name)]
    if fit.fits.get(first.name):
        if not others:
            return f"fits the {first.name}"
        if not no:
            return f"fits the {first.name} and every other listed GPU"
        if not yes:
            return f"fits the {first.name} but none of the other listed GPUs"
        if len(yes) <= len(no):
            return f"fits the {first.name} and, of the others, the {join_and(yes)}"
        return f"fits the {first.name} and every other listed GPU but the {join_and(no)}"
    if not yes:
        return "fits none of the listed GPUs" if others else f"does not fit the {first.name}"
    if not no:
        return f"does not fit the {first.name}; it fits every other listed GPU"
    return f"does not fit the {first.name}; of the others it fits the {join_and(yes)}"


def cannot_run_phrase(fit: Fit) -> str | None:
    """'unsloth needs compute capability 7.0; the Quadro M6000 has 5.2' for the GPUs ruled out by capability."""
    return "; ".join(fit.cannot_run.values()) or None
