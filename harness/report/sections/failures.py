"""Failed and unsupported runs: status (injected faults marked), reason, last phase measured, log, stderr."""

from __future__ import annotations

from harness.fmt import machine_paths_out
from harness.report.render import Code, Details, Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("failures", "Failed and unsupported runs")
    bad = [r for r in ctx.runs if not r.ok and r.status != "mismatch"]
    if not bad:
        s.p("None: every run finished ok.")
        return s
    rows = []
    for r in bad:
        reached = list(r.result.phases)[-1] if r.result.phases else None
        kept = ", ".join(r.result.phases) or "none"
        rows.append(
            [r.label, r.status_text, r.result.reason, reached, kept, f"logs/{r.file.removesuffix('.json')}.log"]
        )
    s.add(Table(["run", "status", "reason", "last phase measured", "phases kept", "log"], rows))
    for r in bad:
        if r.result.stderr_tail:
            tail = machine_paths_out(r.result.stderr_tail)
            s.add(Details(f"stderr tail: {r.label} ({r.status_text})", [Code(tail)]))
    return s
