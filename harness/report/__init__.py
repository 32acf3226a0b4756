"""The report: reads a results folder (result files only) and writes results.csv, candidates/*.csv,
plots/*.png, report.md and report.html into it.

    from harness.report import build_report
    files = build_report(Path("results/my-sweep"))
"""

from harness.report.build import ReportFiles, build_report, main_report

__all__ = ["ReportFiles", "build_report", "main_report"]
