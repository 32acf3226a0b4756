"""A run's fine-tune time in two parts: the one-time cost and the steady step time.

One-time cost, paid once per job whatever its length: everything from the command to the first steady
step, counted the same way for every backend, so that a backend that starts slower pays for it:
- start-up: the child's start before the model loads (`one_time.before_load_s`: a fresh interpreter or
  a fork, imports, the CUDA context, the data), less the harness's own builds inside it (shape-mode
  weights, a stand-in tokenizer, a GGUF conversion: HARNESS_ONLY); older files without it count none;
- load: the `load` phase (weights into memory);
- setup: the `lora` and `train_setup` phases (adapters, tokenising, building the trainer and optimizer);
- first steps: what the burn-in steps took beyond as many steady steps (compilation, autotuning,
  first allocations, caches);
- new shapes: after the burn-in, each step that meets a token shape (batch x padded length) the run had
  not met before pays for new kernels and plans once: its time beyond the steady step. The team's job
  meets each of its shapes once, not once per step;
- outside steps: the train phase's wall time not inside any timed step (dataloader start, the end);
- compile: entries of `RunResult.one_time` that name a compilation.
The base model's answers (between load and adapters) are the harness's, not the fine-tune's: left out.

Steady step time: with recorded step shapes, the median of the steps after the burn-in whose shape the
run had met before; a run that met no shape twice after the burn-in, or an older file without shapes,
falls back to the mean of every step after the burn-in (`method` says which).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from harness.result import RunResult

SETUP_PHASES = ("lora", "train_setup")
# one_time entries inside before_load_s that are the harness's own work, not the team's start-up
HARNESS_ONLY = ("shape_build_s", "tokenizer_train_s", "weights_conversion_s")
MEDIAN = "median of repeated shapes"
MEAN_NO_SHAPES = "mean of every step after the burn-in (no step shapes recorded)"
MEAN_NO_REPEATS = "mean of every step after the burn-in (no shape met twice after it)"


def counted_one_time(key: str) -> bool:
    """`RunResult.one_time` entries that are part of the job's one-time cost (besides the start-up)."""
    return "compile" in key and not key.startswith("generate")


@dataclass(frozen=True)
class FirstShape:
    """A step after the burn-in that met a token shape for the first time in the run."""

    index: int  # 0-based step index
    shape: str  # "BxL", micro-batches joined by "+"
    seconds: float  # its time
    cost_s: float  # its time beyond the steady step


@dataclass
class RunTiming:
    steady: list[float]  # the steady steps' times, s (see `method`)
    burn_in: list[float]  # burn-in step times, s
    parts: dict[str, float] = field(default_factory=dict)  # one-time cost by part, s
    steps: int = 0  # optimizer steps the run took (timed steps)
    batch_size: int | None = None  # per device, as the trainer ran it
    grad_accum: int | None = None
    method: str = MEAN_NO_SHAPES  # how the steady step was taken
    first_shapes: list[FirstShape] = field(default_factory=list)  # after the burn-in
    shapes_met: int | None = None  # distinct token shapes the run met (None: not recorded)
    startup_known: bool = False  # the start-up before the load was recorded (one_time.before_load_s)

    @property
    def shapes_known(self) -> bool:
        return self.method != MEAN_NO_SHAPES

    @property
    def median(self) -> bool:
        """The steady step is a median (repeated shapes), not a mean."""
        return self.method == MEDIAN

    @property
    def steady_step(self) -> float | None:
        """The run's steady step time, s."""
        if not self.steady:
            return None
        return statistics.median(self.steady) if self.median else statistics.fmean(self.steady)

    @property
    def steady_mean(self) -> float | None:
        """The mean of the steady steps (the steady step itself is `steady_step`)."""
        return statistics.fmean(self.steady) if self.steady else None

    @property
    def one_time_s(self) -> float:
        return sum(self.parts.values())

    @property
    def measured_s(self) -> float | None:
        """The run's own fine-tune, rebuilt from its parts: one-time + steps x steady."""
        m = self.steady_step
        return None if m is None else self.one_time_s + self.steps * m


def _split_by_shape(times: list[float], shapes: list[str], n_burn: int) -> tuple[list[int], list[int], int]:
    """(indices after the burn-in of steps whose shape was met before, of first occurrences, shapes met).
    A step's micro-batch shapes are each checked: one new among them makes it a first occurrence."""
    seen: set[str] = set()
    repeated, first = [], []
    for i, shape in enumerate(shapes):
        parts = set(shape.split("+"))
        new = not parts <= seen
        seen |= parts
        if i >= n_burn:
            (first if new else repeated).append(i)
    return repeated, first, len(seen)


def startup_s(result: RunResult) -> float | None:
    """The start-up before the load as the team would pay it (the harness's own builds taken out)."""
    before = result.one_time.get("before_load_s")
    if before is None:
        return None
    return max(0.0, float(before) - sum(float(result.one_time.get(k, 0.0)) for k in HARNESS_ONLY))


def run_timing(result: RunResult) -> RunTiming | None:
    """The two-part time of a run's fine-tune; None when it timed no step after the burn-in.

    Takes the result itself (no report types), so the end-of-sweep table shows the same figures."""
    st = result.steps
    if st is None or not st.times_s:
        return None
    times = list(st.times_s)
    n_burn = max(0, min(st.burn_in_steps, len(times)))
    burn = times[:n_burn]
    if len(times) <= n_burn:
        return None
    first: list[FirstShape] = []
    shapes_met = None
    if st.shapes is not None and len(st.shapes) == len(times):
        repeated, first_idx, shapes_met = _split_by_shape(times, st.shapes, n_burn)
        if repeated:
            method, steady = MEDIAN, [times[i] for i in repeated]
            step = statistics.median(steady)
            first = [FirstShape(i, st.shapes[i], times[i], max(0.0, times[i] - step)) for i in first_idx]
        else:
            method, steady = MEAN_NO_REPEATS, times[n_burn:]
    else:
        method, steady = MEAN_NO_SHAPES, times[n_burn:]
    timing = RunTiming(steady=steady, burn_in=burn, method=method, first_shapes=first, shapes_met=shapes_met)
    step = timing.steady_step
    assert step is not None
    parts: dict[str, float] = {}
    start = startup_s(result)
    if start is not None:
        parts["start-up"] = start
        timing.startup_known = True
    load = result.phases.get("load")
    if load is not None:
        parts["load"] = load.wall_s
    setup = [p.wall_s for n in SETUP_PHASES if (p := result.phases.get(n)) is not None]
    if setup:
        parts["setup"] = sum(setup)
    parts["first steps"] = max(0.0, sum(burn) - n_burn * step)
    if timing.median:
        parts["new shapes"] = sum(f.cost_s for f in first)
    train = result.phases.get("train")
    if train is not None:
        parts["outside steps"] = max(0.0, train.wall_s - sum(times))
    for k, v in sorted(result.one_time.items()):
        if counted_one_time(k):
            parts[k.removesuffix("_s").replace("_", " ")] = float(v)
    eff = result.effective
    timing.parts = parts
    timing.steps = len(times)
    timing.batch_size = (eff.per_device_batch if eff else None) or result.request.train.batch_size
    timing.grad_accum = (eff.grad_accum if eff else None) or result.request.train.grad_accum
    return timing
