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

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.api import Results
    from harness.report.build import ReportFiles, build_report

__all__ = ["ReportFiles", "build_report"]


class _Callable(types.ModuleType):
    """`harness.report(folder)` is the API's report call (harness/api.py), and `harness.report` is also this
    package: once a submodule is imported Python binds the package to that name, so the package itself is
    made callable and both stay true."""

    def __call__(self, folder: Any, **kw: Any) -> Results:
        from harness.api import report

        return report(folder, **kw)


sys.modules[__name__].__class__ = _Callable


def __getattr__(name: str) -> Any:  # matplotlib and pandas load only when a report is built
    if name in __all__:
        from harness.report import build

        return getattr(build, name)
    raise AttributeError(name)
