"""The team's own T4 table as an outside check: their torch.cuda.memory_allocated() after training.

With the trainer still alive after training, the tensors left are the weights, the LoRA parameters
(fp32), the optimizer state (AdamW: two fp32 values per parameter; the gradients were zeroed with
set_to_none) and the two cuBLAS workspaces torch's allocator holds (8.125 MiB each on a T4). That is
theory alone: no coefficient fitted to our runs enters it. Where a cell is far off, two readings of
what their notebook did differently are tested against the increments between their ranks (which
cancel any constant): another set of LoRA targets, and adapters of lower ranks left on the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import UserError
from harness.memory.gpus import MIB
from harness.memory.model import Settings


def _resting(config: dict[str, Any], targets: tuple[str, ...], rank: int) -> tuple[float, float]:
    """(resting MiB on a T4 in fp16, LoRA params) for one cell."""
    from harness.memory.model import resting_after_training_mib
    from harness.memory.shape import model_shape

    s = Settings(rank=rank, dtype="fp16", targets=targets)
    parts = resting_after_training_mib(config, s, "T4")
    cfg = {k: v for k, v in config.items() if k != "model_type"}
    lora = model_shape(str(config["model_type"]), cfg, targets).lora_params(rank)
    return parts["total"], lora


def _alternatives(c: dict[str, Any]) -> list[tuple[str, ...]]:
    """Target sets to test against their rank increments: peft's default for the model type, and the
    candidate's list with one entry left out."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    own = tuple(c["lora_target_modules"])
    alts: list[tuple[str, ...]] = []
    default = PEFT_DEFAULTS.get(c["model_type"])
    if isinstance(default, list):
        alts.append(tuple(default))
    alts += [own[:i] + own[i + 1 :] for i in range(len(own))]
    return [a for a in alts if a and a != own]


def describe_targets(own: tuple[str, ...], alts: list[tuple[str, ...]], model_type: str) -> str:
    """'query_key_value only (peft's default for gpt_neox)' or 'without one of: a, b (same count)'."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    default = PEFT_DEFAULTS.get(model_type)
    if isinstance(default, list) and tuple(default) in alts:
        return f"{', '.join(default)} only (peft's default for {model_type})"
    dropped = [next(t for t in own if t not in a) for a in alts]
    if len(dropped) == 1:
        return f"ours without {dropped[0]}"
    return f"ours without one of {', '.join(dropped)} (each gives the same count)"


@dataclass(frozen=True)
class T4Row:
    candidate: str
    rank: int
    published: float
    predicted: float
    stacked: float | None  # adapters of the lower ranks left on the model (their optimizer state freed)
    alt_targets: str | None  # the target set whose rank increments match theirs much better, described
    alt_predicted: float | None
    weights_gap: float | None  # their inference figure (weights alone) - our weights, MiB

    @property
    def err(self) -> float:
        return (self.predicted - self.published) / self.published


def t4_table() -> list[T4Row]:
    from harness.memory.shape import model_shape
    from harness.memory.source import candidates, from_candidate

    rows: list[T4Row] = []
    for c in candidates():
        pub = (c.get("published") or {}).get("finetune_mb") or {}
        if not pub:
            continue
        spec = from_candidate(c)
        ranks = sorted(int(r) for r in pub)
        measured = [float(pub[r] if r in pub else pub[str(r)]) for r in ranks]
        own = [_resting(spec.config, spec.targets, r) for r in ranks]
        own_err = _increment_err([x[0] for x in own], measured)
        tried: list[tuple[float, tuple[str, ...], list[float]]] = []
        for alt in _alternatives(c):
            try:
                model_shape(c["model_type"], dict(c["shape_config"]), alt)
            except UserError:
                continue
            pred = [_resting(spec.config, alt, r)[0] for r in ranks]
            tried.append((_increment_err(pred, measured), alt, pred))
        best = min(tried, default=None, key=lambda t: t[0])
        alt_desc, alt_pred = None, None
        if best is not None and best[0] < own_err / 3:  # only a much better match counts as an explanation
            same = [t[1] for t in tried if np.allclose(t[2], best[2])]
            alt_desc, alt_pred = describe_targets(spec.targets, same, c["model_type"]), best[2]
        inference = (c.get("published") or {}).get("inference_mb")
        weights = resting_parts(spec.config, spec.targets, ranks[0])["weights"]
        gap = float(inference) - weights if inference is not None else None
        for i, r in enumerate(ranks):
            stacked = None
            if i > 0:  # earlier ranks' adapters still on the model: 4 bytes per parameter each
                stacked = own[i][0] + sum(own[j][1] for j in range(i)) * 4 / MIB
            rows.append(T4Row(c["name"], r, measured[i], own[i][0], stacked, alt_desc,
                              alt_pred[i] if alt_pred else None, gap))  # fmt: skip
    return rows


def resting_parts(config: dict[str, Any], targets: tuple[str, ...], rank: int) -> dict[str, float]:
    from harness.memory.model import resting_after_training_mib

    return resting_after_training_mib(config, Settings(rank=rank, dtype="fp16", targets=targets), "T4")


def _increment_err(pred: list[float], measured: list[float]) -> float:
    dp = np.diff(pred)
    dm = np.diff(measured)
    return float(np.abs(dp - dm).mean()) if len(dp) else 0.0


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def t4_markdown(rows: list[T4Row]) -> str:
    out = ["| candidate | rank | theirs (MiB) | predicted | error | if lower ranks' adapters stayed on | "
           "better-matching targets | predicted with them | error |",
           "|---|---:|---:|---:|---:|---:|---|---:|---:|"]  # fmt: skip
    for r in rows:
        stacked = f"{r.stacked:,.0f} ({_pct((r.stacked - r.published) / r.published)})" if r.stacked else "-"
        alt = r.alt_targets or "-"
        altp = f"{r.alt_predicted:,.0f}" if r.alt_predicted is not None else "-"
        alte = _pct((r.alt_predicted - r.published) / r.published) if r.alt_predicted is not None else "-"
        out.append(f"| {r.candidate} | {r.rank} | {r.published:,.0f} | {r.predicted:,.0f} | {_pct(r.err)} | "
                   f"{stacked} | {alt} | {altp} | {alte} |")  # fmt: skip
    return "\n".join(out)
