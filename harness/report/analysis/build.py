"""analyse(): every figure the report shows that is computed rather than read, in one pass."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.config import JobSettings, parse_job
from harness.fmt import join_and
from harness.report.analysis import backends as backends_mod
from harness.report.analysis import fits
from harness.report.analysis.cells import Cell, draw_quality, fill_cell, group_cells
from harness.report.analysis.decision import Decision, decide
from harness.report.analysis.quality import RunQuality, quality_weights, run_quality
from harness.report.analysis.stats import RESAMPLES, SEED, rng
from harness.report.analysis.timing import MEAN_NO_REPEATS
from harness.report.load import ResultSet
from harness.report.prices import PriceTable


@dataclass
class Analysis:
    cells: list[Cell]
    decision: Decision
    job: JobSettings | None
    job_from: str  # "the sweep spec" or "given to the report"
    quality: dict[str, RunQuality]  # run key -> composites
    quality_weights: dict[str, float]
    quality_weights_from: str
    pairs: list[backends_mod.Pair] = field(default_factory=list)
    unpaired: list[Cell] = field(default_factory=list)  # non-plain cells without a plain one to compare
    predicted: dict[str, list[Any]] = field(default_factory=dict)  # cell id -> the memory model's verdicts
    timing_notes: list[str] = field(default_factory=list)  # where the time model fell back (older run files)

    def cell_of(self, key: str) -> Cell | None:
        return next((c for c in self.cells if any(r.key == key for r in c.runs)), None)


def analyse(
    rs: ResultSet,
    prices: PriceTable,
    job: JobSettings | str | None = None,
    quality_weights_override: dict[str, float] | None = None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    predict_memory: bool = False,
) -> Analysis:
    """Cells, their bootstrap draws, the fits verdicts, the decision and the backend comparisons of a results
    folder. `predict_memory`: the memory model's predictions join the fits verdicts (imports torch: never in
    the sweep's parent)."""
    the_job = parse_job(job, "--job") if isinstance(job, str) else job
    job_from = "given to the report" if the_job is not None else "the sweep spec"
    if the_job is None:
        the_job = rs.spec_job
    weights, source = quality_weights(rs, quality_weights_override)
    quality = {r.key: q for r in rs.runs if (q := run_quality(r, weights)) is not None}
    cells = group_cells(rs.runs)
    gen = rng(seed)
    for c in cells:
        fill_cell(c, the_job, prices, quality, resamples, gen)
    draw_quality([c for c in cells if c.ok], resamples, gen)
    predictions: dict[str, list[Any]] = {}
    if predict_memory and any(c.device != "cpu" for c in cells if c.ok):
        from harness.report.analysis.memory import predicted

        predictions = predicted([c for c in cells if c.ok or c.first.request.emulate is not None])
    fits.assign(cells, prices, predictions)
    # emulated runs are evidence for "fits on", not contenders: their time is the measuring GPU's
    contenders = [c for c in cells if c.first.request.emulate is None] or cells
    decision = decide(contenders, rs.ranking_weights.model_dump(), resamples)
    pairs, unpaired = backends_mod.pairs(contenders)
    notes = timing_notes(contenders)
    return Analysis(cells, decision, the_job, job_from, quality, weights, source, pairs, unpaired, predictions, notes)


def timing_notes(cells: list[Cell]) -> list[str]:
    """Where a configuration's time falls back to the older model, one line each kind."""
    timed = [c for c in cells if c.timings]
    out = []

    def which(labels: list[str]) -> str:
        return "every configuration" if len(labels) == len(timed) else join_and(labels)

    no_shapes = [c.label for c in timed if not c.shapes_known]
    if no_shapes:
        others = len(no_shapes) < len(timed)
        out.append(
            f"No step shapes recorded (older run files) for {which(no_shapes)}: the steady step is the mean of"
            " every step after the burn-in, first occurrences of new token shapes included (the older method)"
            + ("; the others' is the median of repeated shapes, each new shape's first step counted once in the"
               " one-time cost." if others else ".")
        )  # fmt: skip
    no_repeats = [c.label for c in timed if any(t.method == MEAN_NO_REPEATS for t in c.timings)]
    if no_repeats:
        out.append(
            f"No token shape met twice after the burn-in in a run of {join_and(no_repeats)}: its steady step is the"
            " mean of every step after the burn-in (first occurrences cannot be told apart)."
        )
    no_start = [c.label for c in timed if not c.startup_known]
    if no_start:
        others = len(no_start) < len(timed)
        out.append(
            f"No start-up before the load recorded (older run files) for {which(no_start)}: the one-time cost"
            " starts at the load" + (", the others' at the command." if others else ".")
        )
    return out
