"""The generation floor: one new token reads every weight once, so it takes at least
weight bytes / memory bandwidth (the device copy selfbench measured, read + write).

Bytes per parameter by how the weights are held: 16-bit 2, fp32 4, nf4 about 0.5 plus its block
scales (one fp32 absmax per 64 weights: 4/64 byte). An nf4 model keeps its embeddings and norms in
16-bit; counting them at the nf4 rate too keeps the figure a floor (a lower bound).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.load import Run

NF4_BYTES_PER_PARAM = 0.5 + 4 / 64
BYTES_PER_PARAM = {"bf16": 2.0, "fp16": 2.0, "fp32": 4.0}


def bytes_per_param(quant: str, dtype: str | None) -> float:
    if quant == "nf4":
        return NF4_BYTES_PER_PARAM
    return BYTES_PER_PARAM.get(dtype or "", 2.0)


@dataclass
class Floor:
    run: Run
    params: int
    bytes_per_param: float
    floor_s: float  # per token
    measured_s: float  # per token, one answer at a time

    @property
    def ratio(self) -> float:
        return self.measured_s / self.floor_s


def floor(run: Run, gb_per_s: float) -> Floor | None:
    """The run's one-at-a-time seconds per token against its floor; None without the figures."""
    g = run.gen("tuned")
    eff = run.result.effective
    if g is None or not g.latency_s_per_answer or eff is None or not eff.total_params or not g.new_tokens:
        return None
    bpp = bytes_per_param(run.quant, eff.dtype)
    floor_s = eff.total_params * bpp / (gb_per_s * 1e9)
    per_token = g.latency_s_per_answer / (g.new_tokens / max(1, g.prompts))
    return Floor(run, eff.total_params, bpp, floor_s, per_token)


def selfbench_data(folder: Path) -> dict[str, Any] | None:
    """selfbench.json in the results folder (or its selfbench/ subfolder), as `harness selfbench` writes it."""
    for p in (folder / "selfbench.json", folder / "selfbench" / "selfbench.json"):
        if p.is_file():
            try:
                raw = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return raw if isinstance(raw, dict) else None
    return None


def bandwidth_gb_s(sb: dict[str, Any] | None) -> float | None:
    bw = ((sb or {}).get("bandwidth") or {}).get("gb_per_s_read_plus_write")
    return float(bw) if isinstance(bw, (int, float)) and bw > 0 else None
