"""A run's fine-tune time in two parts: the one-time cost and the steady step time.

One-time cost, paid once per job whatever its length:
- setup: the `lora` and `train_setup` phases (adapters, tokenising, building the trainer and optimizer);
- first steps: what the burn-in steps took beyond as many steady steps (compilation, autotuning,
  first allocations, caches);
- outside steps: the train phase's wall time not inside any timed step (dataloader start, the end);
- compile: entries of `RunResult.one_time` that name a compilation.
Model loading is left out (it depends on the disk and its cache, not on the candidate's training).
Other `one_time` entries (shape-mode builds, weight conversion, generation burn-in) are the harness's
own or belong to answering: they are shown, never counted.

Steady step time: the mean of the steps after the burn-in, with a bootstrap interval over those steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.result import RunResult

SETUP_PHASES = ("lora", "train_setup")


def counted_one_time(key: str) -> bool:
    """`RunResult.one_time` entries that are part of the job's one-time cost."""
    return "compile" in key and not key.startswith("generate")


@dataclass
class RunTiming:
    steady: list[float]  # steady step times, s
    burn_in: list[float]  # burn-in step times, s
    parts: dict[str, float] = field(default_factory=dict)  # one-time cost by part, s
    steps: int = 0  # optimizer steps the run took (timed steps)
    batch_size: int | None = None  # per device, as the trainer ran it
    grad_accum: int | None = None

    @property
    def steady_mean(self) -> float | None:
        return sum(self.steady) / len(self.steady) if self.steady else None

    @property
    def one_time_s(self) -> float:
        return sum(self.parts.values())

    @property
    def measured_s(self) -> float | None:
        """The run's own fine-tune, rebuilt from its parts: one-time + steps x steady."""
        m = self.steady_mean
        return None if m is None else self.one_time_s + self.steps * m


def run_timing(result: RunResult) -> RunTiming | None:
    """The two-part time of a run's fine-tune; None when it timed no steady step.

    Takes the result itself (no report types), so the end-of-sweep table shows the same figures."""
    st = result.steps
    if st is None or not st.times_s:
        return None
    n_burn = max(0, min(st.burn_in_steps, len(st.times_s)))
    burn, steady = list(st.times_s[:n_burn]), list(st.times_s[n_burn:])
    if not steady:
        return None
    mean = sum(steady) / len(steady)
    parts: dict[str, float] = {}
    setup = [p.wall_s for n in SETUP_PHASES if (p := result.phases.get(n)) is not None]
    if setup:
        parts["setup"] = sum(setup)
    parts["first steps"] = max(0.0, sum(burn) - n_burn * mean)
    train = result.phases.get("train")
    if train is not None:
        parts["outside steps"] = max(0.0, train.wall_s - sum(st.times_s))
    for k, v in sorted(result.one_time.items()):
        if counted_one_time(k):
            parts[k.removesuffix("_s").replace("_", " ")] = float(v)
    eff = result.effective
    return RunTiming(
        steady=steady,
        burn_in=burn,
        parts=parts,
        steps=len(st.times_s),
        batch_size=(eff.per_device_batch if eff else None) or result.request.train.batch_size,
        grad_accum=(eff.grad_accum if eff else None) or result.request.train.grad_accum,
    )
