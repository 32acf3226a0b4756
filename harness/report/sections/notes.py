"""Notes on this report: skipped files, missing manifest, defaults used."""

from __future__ import annotations

from harness.report.render import Section
from harness.report.sections.base import Context


def build(ctx: Context) -> Section | None:
    if not ctx.notes:
        return None
    s = Section("notes", "Notes on this report")
    for n in ctx.notes:
        s.p(n, "note")
    return s
