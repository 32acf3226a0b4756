"""The few numbers the memory model takes from measured runs, stored with the runs they came from.

`coefficients.yaml` beside this module is written by `python -m harness.memory.fit --write`
(benchmarks/memory-model.sh); never edit it by hand. Everything else in the model is theory
(harness.memory.model) or counted from the autograd graph (harness.memory.activations).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.atomic import atomic_write_text
from harness.errors import UserError

COEFFICIENTS_FILE = Path(__file__).with_name("coefficients.yaml")

HEADER = """\
# Fitted coefficients of the memory model (harness/memory/model.py). Written by
#   python -m harness.memory.fit --write        (benchmarks/memory-model.sh)
# from the measured runs listed under `runs`; do not edit by hand.
#   k_act                       scale on the activation bytes counted from the autograd graph
#   logits_transient_bytes      bytes per token x vocabulary entry the loss's backward adds on top of
#                               what its forward saved (the gradients of the log-softmax)
#   generate_logits_bytes       bytes per answer row x vocabulary entry at the generation peak
#   slack_train_per_logits_byte allocator slack (reserved - allocated) in training per byte of the fp32
#                               logits (token x vocabulary x 4): the loss's blocks are the large ones
#   slack_generate_mib          allocator slack in generation, MiB
#   context_mib                 per GPU name and phase: NVML process memory - torch reserved (CUDA context,
#                               kernels, libraries), MiB
#   train_tokens                tokens per training batch (batch x longest row) the runs covered: outside
#                               that range the token terms are extrapolated
"""


@dataclass(frozen=True)
class Coefficients:
    k_act: float
    logits_transient_bytes: float
    generate_logits_bytes: float
    slack_train_per_logits_byte: float
    slack_generate_mib: float
    context_mib: dict[str, dict[str, float]]
    source: str  # the command and where the runs came from
    runs: list[str] = field(default_factory=list)  # result files (path: key) the fit used
    libraries: str = ""  # versions on the machine that measured the runs
    train_tokens: list[int] = field(default_factory=list)  # batch x longest row of the fitted runs

    def context_for(self, gpu_name: str, phase: str) -> tuple[float, bool]:
        """(context MiB, measured on this GPU?). A GPU without runs gets the mean of the measured ones."""
        if gpu_name in self.context_mib and phase in self.context_mib[gpu_name]:
            return self.context_mib[gpu_name][phase], True
        vals = [v[phase] for v in self.context_mib.values() if phase in v]
        return (sum(vals) / len(vals) if vals else 0.0), False


def load_coefficients(path: Path = COEFFICIENTS_FILE) -> Coefficients:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{path}: cannot read the memory model's coefficients ({type(e).__name__})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a coefficients file; run `python -m harness.memory.fit --write`")
    try:
        coef = Coefficients(**raw)
    except TypeError as e:
        raise UserError(f"{path}: {e}; run `python -m harness.memory.fit --write` to rewrite it") from None
    if not coef.source or not coef.runs:
        raise UserError(f"{path}: no source or no runs named; run `python -m harness.memory.fit --write`")
    return coef


def dump_coefficients(coef: Coefficients) -> str:
    data: dict[str, Any] = asdict(coef)
    for k, v in data.items():
        if isinstance(v, float):
            data[k] = round(v, 4)
    data["context_mib"] = {g: {p: round(x, 1) for p, x in v.items()} for g, v in coef.context_mib.items()}
    return HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)


def write_coefficients(coef: Coefficients, path: Path = COEFFICIENTS_FILE) -> None:
    atomic_write_text(path, dump_coefficients(coef))
