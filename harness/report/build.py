"""build_report: results folder -> results.csv, candidates/*.csv, plots/*.png, report.md, report.html.

Reads (load), computes (analysis), lays out (sections), writes (this module): nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.atomic import atomic_write_bytes, atomic_write_text
from harness.config import JobSettings
from harness.report.analysis import Analysis, analyse
from harness.report.analysis.settings import ran_with
from harness.report.frames import candidate_frame, results_frame, safe_file_name, write_csv
from harness.report.load import SHAPE_BANNER, ResultSet, Run, load_results
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable, prices_path
from harness.report.render import render_page
from harness.report.sections import Context, build_sections
from harness.report.sections.answer import answer_text


@dataclass
class ReportFiles:
    folder: Path
    results_csv: Path
    candidate_csvs: list[Path]
    markdown: Path
    html: Path
    plots: list[Path]
    notes: list[str] = field(default_factory=list)
    answer: str = ""  # the answer paragraph at the top of the report
    warnings: list[str] = field(default_factory=list)  # what `report` prints too (run files whose key fails)
    table: Any = None  # results.csv as a pandas DataFrame (one row per run), for harness.bench's Results.df

    @property
    def csv(self) -> Path:
        """results.csv (alias)."""
        return self.results_csv

    @property
    def all(self) -> list[Path]:
        return [self.results_csv, *self.candidate_csvs, *self.plots, self.markdown, self.html]


def _prices_path(rs: ResultSet, prices_file: Path | None) -> tuple[Path | None, bool]:
    if prices_file is not None:
        return Path(prices_file), True
    spec_prices = rs.spec.get("prices")
    if isinstance(spec_prices, str) and spec_prices:
        p = prices_path(spec_prices)
        if p.exists():
            return p, False
        rs.notes.append(
            f"The spec's price file {spec_prices} was not found; {DEFAULT_PRICES_FILE.name} is used if present"
        )
    return DEFAULT_PRICES_FILE, False


def analyse_folder(results_dir: Path, job: JobSettings | str | None = None) -> Analysis:
    """The analysis of a results folder without writing anything (e.g. which configurations to repeat)."""
    rs = load_results(Path(results_dir))
    path, required = _prices_path(rs, None)
    return analyse(rs, PriceTable.load(path, required=required), job)


def _clean_stale(folder: Path, pattern: str, keep: set[Path]) -> None:
    for p in folder.glob(pattern):
        if p not in keep and p.is_file():
            p.unlink()


def _candidate_csvs(folder: Path, rs: ResultSet, analysis: Analysis) -> list[Path]:
    cand_dir = folder / "candidates"
    out: list[Path] = []
    taken: set[str] = set()
    by_cand: dict[str, list[Run]] = {}
    for r in rs.runs:
        by_cand.setdefault(r.candidate, []).append(r)
    for name in sorted(by_cand):
        p = cand_dir / f"{safe_file_name(name, taken)}.csv"
        write_csv(candidate_frame(by_cand[name], analysis), p)
        out.append(p)
    if cand_dir.is_dir():
        _clean_stale(cand_dir, "*.csv", set(out))
    return out


def build_report(
    results_dir: Path,
    *,
    prices_file: Path | None = None,
    job: JobSettings | str | None = None,
    quality_weights: dict[str, float] | None = None,
    predict_memory: bool = False,
) -> ReportFiles:
    """Read the results folder (result files only) and write the report files into it.

    `job` (JobSettings, or --job's text such as '200x3@4') overrides the spec's `job:` block;
    `quality_weights` override the spec's composite weights. Neither needs a rerun. `predict_memory`: add the
    memory model's prediction for each team GPU to "fits on" (imports torch: not in the sweep's parent)."""
    folder = Path(results_dir)
    rs = load_results(folder)
    path, required = _prices_path(rs, prices_file)
    prices = PriceTable.load(path, required=required)
    if prices.source is None:
        rs.notes.append("No price file: cost is left empty; the fits-on check has no GPU list.")
    analysis = analyse(rs, prices, job, quality_weights, predict_memory=predict_memory)
    ctx = Context(rs, prices, analysis, notes=rs.notes)
    ctx.predicted = analysis.predicted

    results_csv = folder / "results.csv"
    table = results_frame(rs, prices, analysis)
    write_csv(table, results_csv)
    cand_csvs = _candidate_csvs(folder, rs, analysis)

    sections = build_sections(ctx)  # the figures are made as the sections are built
    plot_paths = []
    for f in ctx.figures:
        p = folder / f.rel_path
        atomic_write_bytes(p, f.png)
        plot_paths.append(p)
    if (folder / "plots").is_dir():
        _clean_stale(folder / "plots", "*.png", set(plot_paths))

    files = [str(p.relative_to(folder)) for p in [results_csv, *cand_csvs]] + ["report.md"]
    page = {
        "title": f"LoRA fine-tuning benchmark: {rs.sweep_name}",
        "sweep": rs.sweep_name,
        "description": rs.description,
        "ran_with": ran_with(r.result for r in rs.runs),  # from the run files: what ran, whatever the spec says
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "folder": folder.name,
        "shape": ctx.any_shape,
        "banner": SHAPE_BANNER,
        "sections": sections,
        "files": files,
    }
    md_path, html_path = folder / "report.md", folder / "report.html"
    atomic_write_text(md_path, render_page("report.md.j2", **page))
    atomic_write_text(html_path, render_page("report.html.j2", **page))
    return ReportFiles(
        folder, results_csv, cand_csvs, md_path, html_path, plot_paths, ctx.notes, answer_text(ctx), rs.warnings, table
    )
