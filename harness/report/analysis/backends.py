"""Each backend against the plain one (`harness.backends.PLAIN`) at the same model, rank, quantisation and weights mode.

Steady-step speed-up = plain steady step / backend steady step, with a bootstrap interval (the two
cells' draws are independent). One-time cost difference, user-work peak saved, and the break-even job
length: a backend with faster steady steps but a larger one-time cost (compilation) pays it back after
(one-time extra) / (step time saved) steps. Backend names come from the results; the plain one is the registry's `PLAIN`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.backends import PLAIN
from harness.labels import run_label
from harness.report.analysis.cells import Cell
from harness.report.analysis.machines import Machines, machines
from harness.report.analysis.stats import NONE, Est, estimate


@dataclass
class Pair:
    plain: Cell
    other: Cell
    speedup: Est = NONE  # plain steady / other steady (> 1: the backend is faster)
    one_time_extra_s: float | None = None  # other one-time - plain one-time
    peak_saved_mib: float | None = None  # plain user-work peak - other's
    break_even_steps: float | None = None  # steps after which the backend's total time is lower
    pays_back: str = ""  # "at once", "after N steps", "never (slower steady steps)", ""
    notes: list[str] = field(default_factory=list)  # what makes the two sides not alike (start, start-up, machine)
    machines: Machines | None = None  # the machine boots both sides' runs ran on

    @property
    def backend(self) -> str:
        return self.other.backend

    @property
    def where(self) -> str:
        p = self.plain
        return run_label(
            p.candidate, p.rank, None, p.quant, [*p.first.setting_tags, "shape" if p.weights_mode == "shape" else ""]
        )


def _key(c: Cell) -> tuple[str, int | None, str, str, tuple[str, ...]]:
    return (c.candidate, c.rank, c.quant, c.weights_mode, c.first.settings_key)  # the same settings, another backend


def pairs(cells: list[Cell]) -> tuple[list[Pair], list[Cell]]:
    """(pairs of every non-plain ok cell with its plain ok cell, non-plain ok cells without one)."""
    plain = {_key(c): c for c in cells if c.ok and c.backend == PLAIN}
    out: list[Pair] = []
    alone: list[Cell] = []
    for c in cells:
        if not c.ok or c.backend == PLAIN:
            continue
        p = plain.get(_key(c))
        if p is None:
            alone.append(c)
        else:
            out.append(compare(p, c))
    out.sort(key=lambda x: (x.plain.candidate, x.plain.rank or 0, x.plain.quant, x.backend))
    return out, alone


def compare(plain: Cell, other: Cell) -> Pair:
    pr = Pair(plain, other)
    sp, so = plain.steady.mean, other.steady.mean
    if sp and so:
        b = plain.boot.get("steady"), other.boot.get("steady")
        draws = b[0] / b[1] if b[0] is not None and b[1] is not None else None
        n = min(plain.steady.n, other.steady.n)
        pr.speedup = estimate(sp / so, draws if draws is not None and np.isfinite(draws).all() else None, n)
    op, oo = plain.one_time.mean, other.one_time.mean
    if op is not None and oo is not None:
        pr.one_time_extra_s = oo - op
    if plain.peak.mib is not None and other.peak.mib is not None and plain.peak.measure == other.peak.measure:
        pr.peak_saved_mib = plain.peak.mib - other.peak.mib
    if sp and so and pr.one_time_extra_s is not None:
        pr.break_even_steps, pr.pays_back = pays_back(sp, so, pr.one_time_extra_s, pr.speedup)
    pr.notes = side_notes(plain, other)
    pr.machines = machines([*plain.ok_runs, *other.ok_runs])
    if pr.machines.differ:
        pr.notes.append(
            f"its sides ran on {pr.machines.text}: the speed-up holds machine-to-machine spread, which the interval"
            " over the steps does not cover; interleaved repeats on one machine (A B A B) measure it"
        )
    return pr


def _starts(c: Cell) -> str:
    methods = sorted({m for r in c.ok_runs if (m := r.start_method) is not None})
    return "/".join(methods) if methods else "unknown"


def side_notes(plain: Cell, other: Cell) -> list[str]:
    """What makes the two sides' one-time costs unlike: another start method, a start-up not recorded."""
    out = []
    a, b = _starts(plain), _starts(other)
    if a != b and "unknown" not in (a, b):
        out.append(
            f"started differently ({PLAIN} {a}, {other.backend} {b}): the one-time difference holds the start method"
            " too (a fork skips the imports a fresh interpreter pays); `--start fresh` starts both sides alike"
        )
    if plain.startup_known != other.startup_known:
        missing = plain if not plain.startup_known else other
        out.append(f"the start-up before the load is not recorded for {missing.backend}: one-time costs are unlike")
    return out


def pays_back(plain_step: float, other_step: float, extra_s: float, speedup: Est) -> tuple[float, str]:
    """(break-even steps, the sentence) for a backend whose steady step is `other_step` against plain's, at
    `extra_s` more one-time cost. Where the speed-up's interval holds 1x the steps are not measurably
    different, and the sentence says so rather than reading a difference into the noise."""
    saved = plain_step - other_step
    if saved > 0 and extra_s <= 0:
        steps, text = 0.0, "at once (faster steps, no extra one-time cost)"
    elif saved > 0:
        steps = extra_s / saved
        text = f"after {math.ceil(steps):,} steps"
    elif extra_s < 0:
        steps = extra_s / saved if saved < 0 else math.inf
        text = (
            f"for jobs under {math.floor(steps):,} steps only (smaller one-time cost, slower steps)"
            if saved < 0
            else "at once (smaller one-time cost, same steps)"
        )
    else:
        steps, text = math.inf, "never (slower steady steps and no smaller one-time cost)"
    if speedup.lo is not None and speedup.hi is not None and speedup.lo <= 1.0 <= speedup.hi:
        text += "; but the steps are not measurably different (the speed-up's interval holds 1x)"
    return steps, text
