"""Cells: the runs of one configuration (the same request but for the repeat index), pooled.

A cell's figures pool its ok repeats: steady steps of every repeat, the mean one-time cost, the largest
user-work peak, the per-prompt composite averaged over repeats. Each figure carries bootstrap draws
(`Cell.boot`, one value per resample) so that the decision can ask how often its choice survives noise:
- steady step time: repeats resampled, then the steady steps inside each chosen repeat (their median when the
  run recorded step shapes: analysis/timing.py);
- one-time cost and peak: repeats resampled (one repeat: no variation, and the report says so);
- quality: prompts resampled, the SAME prompt draws for every cell (a paired comparison).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.config import JobSettings
from harness.labels import run_label
from harness.report.analysis.job import Projection, projected_s, projection
from harness.report.analysis.machines import Machines, Spread, machines
from harness.report.analysis.memory import peak_of, scoring_of
from harness.report.analysis.quality import RunQuality
from harness.report.analysis.stats import NONE, Est, estimate, resample_means, resample_medians
from harness.report.analysis.timing import RunTiming, run_timing
from harness.report.load import Mem, Run, sort_runs
from harness.report.prices import Cost, Fit, PriceTable

TERMS_DRAWN = ("steady", "one_time", "job_time", "memory", "quality")


@dataclass
class Cell:
    id: str
    runs: list[Run]  # every run of the configuration, any status
    ok_runs: list[Run] = field(default_factory=list)
    timings: list[RunTiming] = field(default_factory=list)  # of the ok runs that timed steps
    projection: Projection | None = None
    steady: Est = NONE  # s per optimizer step, at the measured batch
    one_time: Est = NONE  # s
    job_time: Est = NONE  # s, the team's job (or the run's own training)
    job_cost: Est = NONE  # money
    cost: Cost | None = None  # the price matched for the cell's GPU
    peak: Mem = field(default_factory=lambda: Mem(None, None))  # user work, the largest over repeats
    memory: Est = NONE  # the same peak, MiB, with its spread over repeats
    scoring: Mem = field(default_factory=lambda: Mem(None, None))  # the harness's scoring pass
    fit: Fit | None = None
    quality: Est = NONE  # tuned composite (report-time weights)
    per_prompt: dict[str, float] = field(default_factory=dict)  # tuned composite per prompt, over repeats
    boot: dict[str, np.ndarray] = field(default_factory=dict)

    # ------------------------------------------------------------ identity

    @property
    def first(self) -> Run:
        return (self.ok_runs or self.runs)[0]

    @property
    def candidate(self) -> str:
        return self.first.candidate

    @property
    def rank(self) -> int | None:
        return self.first.rank

    @property
    def backend(self) -> str:
        return self.first.backend

    @property
    def quant(self) -> str:
        return self.first.quant

    @property
    def weights_mode(self) -> str:
        return self.first.weights_mode

    @property
    def info(self) -> dict[str, Any]:
        return self.first.info

    @property
    def shape(self) -> bool:
        return any(r.shape for r in self.runs)

    @property
    def device(self) -> str | None:
        return self.first.device

    @property
    def gpu_name(self) -> str | None:
        return self.first.gpu_name

    @property
    def ok(self) -> bool:
        return bool(self.ok_runs)

    @property
    def repeats(self) -> int:
        return len(self.ok_runs)

    @property
    def config(self) -> str:
        """'r16 hf none' (+ the settings that vary in the folder, ' b2 len512') (+ ' shape') (+ ' (as T4)')."""
        tags = [*self.first.setting_tags, "shape" if self.weights_mode == "shape" else ""]
        return run_label(None, self.rank, self.backend, self.quant, tags, variant=self.first.request.variant)

    @property
    def label(self) -> str:
        return f"{self.candidate} {self.config}"

    @property
    def status_text(self) -> str:
        """What happened to a cell without an ok run: its runs' statuses."""
        seen = list(dict.fromkeys(r.status_text for r in self.runs))
        return ", ".join(seen)

    @property
    def repeat_steady(self) -> list[float]:
        return [m for t in self.timings if (m := t.steady_step) is not None]

    @property
    def spread(self) -> Spread | None:
        """The repeats' steady steps and how far apart they lie (None: fewer than two timed repeats)."""
        steps = self.repeat_steady
        return Spread(steps) if len(steps) > 1 else None

    @property
    def machines(self) -> Machines:
        """The machine boots the cell's ok runs ran on."""
        return machines(self.ok_runs)

    @property
    def shapes_known(self) -> bool:
        """Every timed repeat recorded its step shapes (first occurrences are timed apart)."""
        return bool(self.timings) and all(t.shapes_known for t in self.timings)

    @property
    def startup_known(self) -> bool:
        """Every timed repeat recorded its start-up before the load (it is in the one-time cost)."""
        return bool(self.timings) and all(t.startup_known for t in self.timings)

    @property
    def repeat_one_time(self) -> list[float]:
        return [t.one_time_s for t in self.timings]


def group_cells(runs: list[Run]) -> list[Cell]:
    """Runs grouped by what they measured (request minus repeat index), in the report's order."""
    groups: dict[str, list[Run]] = {}
    for r in sort_runs(runs):
        groups.setdefault(r.cell_id, []).append(r)
    cells = [Cell(k, v, [r for r in v if r.ok]) for k, v in groups.items()]
    return sorted(
        cells, key=lambda c: (c.candidate, c.backend, c.quant, c.weights_mode, c.rank or 0, c.first.settings_key)
    )


def fill_cell(
    cell: Cell,
    job: JobSettings | None,
    prices: PriceTable,
    quality: dict[str, RunQuality],
    resamples: int,
    gen: np.random.Generator,
) -> None:
    """The cell's pooled figures and their bootstrap draws (quality draws come from `draw_quality`)."""
    cell.timings = [t for r in cell.ok_runs if (t := run_timing(r.result)) is not None]
    cell.peak = peak_of(cell.ok_runs)
    cell.scoring = scoring_of(cell.ok_runs)
    cell.fit = None  # set for every cell at once by harness.report.analysis.fits.assign (emulated runs are evidence)
    prompts: dict[str, list[float]] = {}
    for r in cell.ok_runs:
        q = quality.get(r.key)
        for pid, v in (q.per_prompt.get("tuned", {}) if q else {}).items():
            prompts.setdefault(pid, []).append(v)
    cell.per_prompt = {pid: sum(v) / len(v) for pid, v in prompts.items()}
    ts = cell.timings
    if ts:
        k = len(ts)
        pick = gen.integers(0, k, size=(resamples, k))  # repeats drawn with replacement
        # each repeat's steady step resampled over its own steps: a median of repeated shapes, or a mean
        step_draws = np.stack(
            [(resample_medians if t.median else resample_means)(t.steady, resamples, gen) for t in ts]
        )  # (k, B)
        steady_b = step_draws[pick.T, np.arange(resamples)].mean(axis=0)
        one = np.asarray([t.one_time_s for t in ts])
        one_b = one[pick].mean(axis=1)
        pooled = [s for t in ts for s in t.steady]
        if any(t.median for t in ts):
            steady_pt = float(np.mean([t.steady_step for t in ts]))  # the repeats' steady steps, averaged
        else:
            steady_pt = sum(pooled) / len(pooled)  # older files: every step after the burn-in, pooled
        one_pt = float(one.mean())
        cell.steady = estimate(steady_pt, steady_b, len(pooled))
        cell.one_time = estimate(one_pt, one_b if k > 1 else None, k)
        cell.boot["steady"], cell.boot["one_time"] = steady_b, one_b
        p = projection(job, ts[0])
        cell.projection = p
        job_b = one_b + p.steps * steady_b * p.scale
        cell.job_time = estimate(projected_s(one_pt, steady_pt, p), job_b, len(pooled))
        cell.boot["job_time"] = job_b
        cell.cost = prices.cost(cell.job_time.mean / 3600, cell.device, cell.gpu_name)  # type: ignore[operator]
        per = cell.cost.per_hour
        if per is not None:
            jt = cell.job_time
            cell.job_cost = Est(
                jt.mean * per / 3600,  # type: ignore[operator]
                None if jt.lo is None else jt.lo * per / 3600,
                None if jt.hi is None else jt.hi * per / 3600,
                jt.n,
            )
    peaks = [m.mib for r in cell.ok_runs if (m := r.user_peak).mib is not None]
    if peaks:
        arr = np.asarray(peaks)
        mem_b = arr[gen.integers(0, arr.size, size=(resamples, arr.size))].max(axis=1)
        cell.boot["memory"] = mem_b
        cell.memory = estimate(float(arr.max()), mem_b if arr.size > 1 else None, int(arr.size))


def draw_quality(cells: list[Cell], resamples: int, gen: np.random.Generator) -> None:
    """Tuned composite per cell, with prompts resampled alike for every cell (paired across cells)."""
    ids = sorted({pid for c in cells for pid in c.per_prompt})
    if not ids:
        return
    idx = gen.integers(0, len(ids), size=(resamples, len(ids)))
    for c in cells:
        if not c.per_prompt:
            continue
        v = np.asarray([c.per_prompt.get(pid, np.nan) for pid in ids])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a draw that missed every prompt of the cell
            boot = np.nanmean(v[idx], axis=1)
        boot = np.where(np.isnan(boot), np.nanmean(v), boot)
        point = float(np.nanmean(v))
        c.quality = estimate(point, boot, len(c.per_prompt))
        c.boot["quality"] = boot
