"""The report's sections, one module each, in page order. Each has `build(ctx) -> Section | None`
(None: nothing to show, e.g. no backend pairs). Adding a section: a module here and a line in ORDER."""

from __future__ import annotations

from harness.report.render import Section
from harness.report.sections import (
    answer,
    backends,
    cost,
    environment,
    failures,
    fits,
    notes,
    overview,
    plots,
    published,
    quality,
    ranking,
    runs,
    selfbench,
)
from harness.report.sections.base import Context

ORDER = (
    answer,
    overview,
    environment,
    ranking,
    plots,
    runs,
    cost,
    fits,
    published,
    backends,
    quality,
    failures,
    selfbench,
    notes,
)


def build_sections(ctx: Context) -> list[Section]:
    return [s for m in ORDER if (s := m.build(ctx)) is not None]


__all__ = ["ORDER", "Context", "build_sections"]
