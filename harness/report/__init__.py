"""The report: reads a results folder (result files only) and writes results.csv, candidates/*.csv,
plots/*.png, report.md and report.html into it.

    from harness.report import build_report
    files = build_report(Path("results/my-sweep"))
    print(files.answer)          # the answer paragraph at the top of the report

Layout: load (reading), analysis/ (figures computed, no layout), sections/ (one module per report
section), frames (the CSVs), plots, render (Markdown/HTML blocks), prices; build ties them together.
Formatting lives in harness.fmt.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.report.build import ReportFiles, build_report

__all__ = ["ReportFiles", "build_report"]

# `harness.report(folder)`, the API's report call, is this package made callable by harness/__init__.py (the top
# floor): the report itself never imports the API.


def __getattr__(name: str) -> Any:  # matplotlib and pandas load only when a report is built
    if name in __all__:
        from harness.report import build

        return getattr(build, name)
    raise AttributeError(name)
