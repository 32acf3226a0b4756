"""The team's job on a measured run: its steps, and the projected fine-tune time.

The job is `harness.config.JobSettings` (the spec's `job:` block, or `--job`): a step count, or rows x
epochs at a batch size and accumulation (steps per epoch rounded up, as transformers 5.17 counts them).
Projected time = one-time cost + steps x steady step time x scale. The one-time cost (analysis/timing.py) is
everything from the command to the first steady step: start-up, load, setup, the burn-in's excess, and each
token shape's first occurrence once (the job meets the shapes the measured run met, each once: the same data). The steady step was measured at the
run's own per-device batch and accumulation: another accumulation multiplies the micro-batches per step
(exact); another per-device batch is scaled by samples per step (an approximation, said wherever it is
used). A job given as a step count is taken at the measured batch unless it names a batch size. Without
a job, the projection is the run's own training.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import JobSettings
from harness.report.analysis.timing import RunTiming


@dataclass(frozen=True)
class Projection:
    steps: int  # optimizer steps of the job
    scale: float  # job step time / measured step time
    approximate: bool  # True: another per-device batch than measured (scaled by samples)
    text: str  # "200 rows x 3 epochs at batch 4 = 150 steps", or "50 steps, as measured"


def projection(job: JobSettings | None, t: RunTiming) -> Projection:
    """How the job maps onto a measured run: its step count and the steady-step scale."""
    if job is None:
        return Projection(t.steps, 1.0, False, f"{t.steps} steps, as measured")
    named = job.model_fields_set
    by_steps = job.steps is not None
    bs = job.batch_size if (not by_steps or "batch_size" in named) else t.batch_size
    ga = job.grad_accum if (not by_steps or "grad_accum" in named) else t.grad_accum
    scale, approx = 1.0, False
    if bs and ga and t.batch_size:
        scale = (bs * ga) / (t.batch_size * (t.grad_accum or 1))
        approx = bs != t.batch_size
    return Projection(job.total_steps, scale, approx, job.text)


def projected_s(one_time_s: float, steady_s: float, p: Projection) -> float:
    return one_time_s + p.steps * steady_s * p.scale
