"""Quality composites, computed when the report is built from the per-answer scores each run stored.

The weights come from the report's caller (the command line), else the sweep spec, else
harness.quality's defaults. Changing
them needs no rerun: `lora-harness report` with other weights recomputes every composite and interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.quality.score import answer_composites, composite_block, resolve_weights
from harness.report.load import ResultSet, Run


@dataclass
class RunQuality:
    block: dict[str, Any]  # formula, weights, base/tuned {mean, lo, hi, n}, tuned_vs_base
    per_prompt: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> answer id -> composite

    def stage(self, stage: str) -> dict[str, Any] | None:
        d = self.block.get(stage)
        return d if isinstance(d, dict) and d.get("mean") is not None else None

    @property
    def tuned_vs_base(self) -> dict[str, Any] | None:
        d = self.block.get("tuned_vs_base")
        return d if isinstance(d, dict) and d.get("diff_mean") is not None else None


def quality_weights(rs: ResultSet, override: dict[str, float] | None = None) -> tuple[dict[str, float], str]:
    """(resolved weights, where they came from)."""
    if override is not None:
        return resolve_weights(override), "given to the report"
    spec = rs.spec_quality_weights
    if spec is not None:
        return resolve_weights(spec), "the sweep spec"
    return resolve_weights(None), "harness.quality's defaults"


def run_quality(run: Run, weights: dict[str, float]) -> RunQuality | None:
    """Composite per prompt and per stage of one run; None when it has no answers with scores."""
    answers = [a for a in run.result.answers if a.scores]
    if not answers:
        return None
    values = answer_composites(answers, weights)
    per: dict[str, dict[str, float]] = {}
    for a, v in zip(answers, values, strict=True):
        if v is not None:
            per.setdefault(a.stage, {})[a.id] = v
    return RunQuality(composite_block(answers, weights), per)
