"""What was run: the command as typed, how many result files, which planned runs have none, corrupt files."""

from __future__ import annotations

from collections import Counter

from harness.report.render import Code, Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("overview", "What was run")
    rs = ctx.rs
    s.add(Code(rs.command or "(the manifest records no command)", "Command"))
    counts = Counter(r.status_text for r in rs.runs)
    found = ", ".join(f"{n} {st}" for st, n in sorted(counts.items())) or "none"
    s.p(f"{len(rs.runs)} result files read ({found}); {len(rs.corrupt)} corrupt file(s) skipped.")
    if any(r.injected for r in rs.runs):
        s.p(
            "Runs marked (injected) failed on purpose: a fault was injected to test the harness (HARNESS_FAULTS);"
            " they say nothing about the model.",
            "warn",
        )
    planned = rs.planned_keys
    if planned:
        have = {r.key for r in rs.runs}
        missing = [k for k in planned if k not in have]
        if missing:
            labels = rs.planned_labels
            names = ", ".join(labels.get(k) or k[:12] for k in missing[:8]) + (" ..." if len(missing) > 8 else "")
            s.p(
                f"The manifest plans {len(planned)} runs; {len(missing)} have no readable result file"
                f" (not run yet, or corrupt): {names}.",
                "warn",
            )
        else:
            s.p(f"The manifest plans {len(planned)} runs; every one has a result file.", "note")
    if rs.corrupt:
        s.add(
            Table(
                ["file", "why it was skipped"],
                [[f"runs/{f}", why] for f, why in rs.corrupt],
                title="Corrupt result files",
            )
        )
    return s
