"""The machines and packages the runs recorded: one value per item, or each value with its run count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from harness.backends import SHOWN_PACKAGES
from harness.fmt import gib
from harness.report.load import PACKAGES_SHOWN, sampler_period_ms
from harness.report.render import Section, Table
from harness.report.sections.base import Context

OPTIONAL = ("bitsandbytes", *SHOWN_PACKAGES)  # left out when no run recorded them
PAIRS_PER_ROW = 3


def build(ctx: Context) -> Section:
    s = Section("environment", "Environment")
    s.add(table(ctx))
    return s


def table(ctx: Context) -> Table:
    envs = [r.result.environment for r in sorted(ctx.rs.runs, key=lambda r: not r.ok) if r.result.environment]
    if not envs:
        return Table(["item", "value"], [], empty="No run recorded its environment.")
    fields: list[tuple[str, Callable[[Any], Any]]] = [
        ("GPU", lambda e: None if e.device == "cpu" else e.gpu_name),
        ("GPU memory", lambda e: gib(e.gpu_total_mib) if e.gpu_total_mib else None),
        ("compute capability", lambda e: e.compute_capability),
        ("driver", lambda e: e.driver),
        ("CUDA", lambda e: e.cuda),
        ("device", lambda e: e.device),
        ("host", lambda e: e.host),
        ("CPU count", lambda e: e.cpu_count),
        ("platform", lambda e: e.platform),
        ("python", lambda e: e.python),
    ]
    fields += [(name, lambda e, n=name: e.packages.get(n)) for name in PACKAGES_SHOWN]
    fields.append(("git sha", lambda e: (e.git_sha or "") + (" (dirty)" if e.git_dirty else "") or None))
    fields.append(("measurement version", lambda e: e.measurement_version))
    # its own cost moves step and answer times (reports/sampler-ab-h200/): every 5 ms up to measurement version 4
    fields.append(("memory sampler", lambda e: f"every {p:g} ms" if (p := sampler_period_ms(e.monitor)) else None))
    rows = []
    for name, get in fields:
        vals = Counter(str(v) for e in envs if (v := get(e)) not in (None, ""))
        if not vals:
            if name in OPTIONAL:
                continue
            text = "none (CPU-only run)" if name == "GPU" and ctx.all_cpu else "not recorded"
        elif len(vals) == 1:
            text = next(iter(vals))
        else:
            text = "; ".join(f"{v} ({n} runs)" for v, n in vals.most_common())
        rows.append([name, text])
    per = PAIRS_PER_ROW
    grid = [[x for pair in rows[i : i + per] for x in pair] for i in range(0, len(rows), per)]
    grid = [r + [" "] * (2 * per - len(r)) for r in grid]  # blank, not "—" (nothing is missing)
    return Table(["item", "value"] * per, grid, html_id="environment")
