"""The table printed at the end of `make bench`: one line per run, figures read from its result."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.config import SweepSpec
from harness.result import RunResult


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _peak(r: RunResult) -> str:
    train = r.phases.get("train")
    if train is None:
        return "-"
    if train.nvml_process_peak_mib is not None:
        return f"{train.nvml_process_peak_mib:,.0f} GPU"
    if train.torch_max_reserved_mib is not None:
        return f"{train.torch_max_reserved_mib:,.0f} GPU"
    return f"{train.host_rss_peak_mib:,.0f} RSS" if train.host_rss_peak_mib is not None else "-"


def _q(r: RunResult, stage: str, metric: str, fmt: str) -> str:
    m = (r.quality.get(stage) or {}).get(metric) if r.quality else None
    if not m or m.get("mean") is None:
        return "-"
    return fmt.format(m["mean"]) + (
        f" [{fmt.format(m['lo'])}, {fmt.format(m['hi'])}]" if m.get("lo") is not None else ""
    )


def print_summary(results: list[RunResult], results_dir: Path, spec: SweepSpec) -> None:
    t = Table(title=f"{spec.name}: {len(results)} runs ({results_dir})")
    for col in ("run", "status", "train s", "steady s/step", "peak MiB (train)", "gen s/answer", "bpc base → tuned",
                "chrF++ tuned", "composite tuned"):  # fmt: skip
        t.add_column(col)
    for r in results:
        gen = next((g for g in r.generation if g.stage == "tuned"), None)
        train = r.phases.get("train")
        t.add_row(
            r.label,
            r.status if not r.reason else f"{r.status}: {r.reason[:60]}",
            _f(train.wall_s if train else None),
            _f(r.steps.steady_mean_s if r.steps else None, "{:.3f}"),
            _peak(r),
            _f(gen.s_per_answer if gen else None, "{:.2f}"),
            f"{_q(r, 'base', 'bits_per_char', '{:.2f}')} → {_q(r, 'tuned', 'bits_per_char', '{:.2f}')}",
            _q(r, "tuned", "chrf", "{:.1f}"),
            _composite(r),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=170)  # a log file: no need to wrap the figures into 80 columns
    console.print(t)
    if any(r.weights and r.weights.mode == "shape" for r in results):
        console.print("[yellow]Shape mode: random weights — time and memory are real, quality is not.[/yellow]")


def _composite(r: RunResult) -> str:
    comp = (r.quality or {}).get("composite") or {}
    m = comp.get("tuned") or {}
    if m.get("mean") is None:
        return "-"
    lo, hi = m.get("lo"), m.get("hi")
    return f"{m['mean']:.1f}" + (f" [{lo:.1f}, {hi:.1f}]" if lo is not None else "")
