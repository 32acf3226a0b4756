"""The one table printed at the end of a sweep: a line per run, figures read from its result.

Time comes in the report's two parts (one-time cost, steady step: harness.report.analysis.timing), memory
is the peak of the user's work (fine-tune, answers), quality the stored metrics (the composite needs the
report's weights: `lora-harness report` shows it, with the answer paragraph).
"""

from __future__ import annotations

from rich.table import Table

from harness.fmt import duration, fnum, join_and
from harness.phases import USER_WORK
from harness.report.analysis.timing import run_timing
from harness.result import RunResult

STATUS_STYLE = {
    "ok": "green",
    "unsupported": "yellow",
    "mismatch": "yellow",
    "oom": "red",
    "crashed": "red",
    "timeout": "red",
    "diverged": "red",
    "failed": "red",
    "cancelled": "magenta",
}
COLUMNS = (
    "run",
    "status",
    "reason",
    "wall",
    "one-time s",
    "steady s/step",
    "user peak MiB",
    "gen s/answer",
    "bpc base→tuned",
    "chrF++ tuned",
    "",
)


def user_peak(r: RunResult) -> str:
    """Peak over the user's work phases: NVML process, else torch reserved (GPU), else host RSS."""
    phases = [p for n in USER_WORK if (p := r.phases.get(n)) is not None]
    for attr, mark in (("nvml_process_peak_mib", ""), ("torch_max_reserved_mib", " *"), ("host_rss_peak_mib", " RSS")):
        vals = [v for p in phases if (v := getattr(p, attr)) is not None]
        if vals:
            return f"{max(vals):,.0f}{mark}"
    return "-"


def truncated_rows(r: RunResult) -> int:
    """Training rows the trainer cut to max_length (0 when none, or not recorded)."""
    return (r.weights.train_rows_truncated or 0) if r.weights else 0


def truncated_cell(r: RunResult) -> str:
    """'8/8, ≤4,162 cut': rows cut to max_length of the rows trained on, and the most tokens cut from one."""
    n = truncated_rows(r)
    if not n or r.weights is None:
        return "-"
    return f"{n}/{r.request.data.train_rows}, ≤{r.weights.train_tokens_cut_max or 0:,} cut"


def _metric(r: RunResult, stage: str, metric: str, digits: int) -> str:
    iv = r.quality.stage(stage).get(metric)
    return "-" if iv is None or iv.mean is None else (fnum(iv.mean, digits) or "-")


def run_table(results: list[RunResult], ran: set[str], title: str, reason_width: int = 60) -> Table:
    t = Table(title=title, show_lines=False)
    cut = any(truncated_rows(r) for r in results)  # the column only when a run's rows were cut
    columns = [*COLUMNS[:-1], *(["rows cut to max_length"] if cut else []), COLUMNS[-1]]
    for col in columns:
        t.add_column(col, no_wrap=col in ("run", "status", "reason"), justify="left" if col in COLUMNS[:3] else "right")
    for r in results:
        timing = run_timing(r) if r.status == "ok" else None
        gen = next((g for g in r.generation if g.stage == "tuned"), None)
        reason = r.reason.splitlines()[0] if r.reason else ""
        reason = reason if len(reason) <= reason_width else reason[: reason_width - 1] + "…"
        t.add_row(
            r.label,
            r.status + (" (injected)" if "(injected" in (r.reason or "") else ""),
            reason,
            duration(r.wall_s),
            fnum(timing.one_time_s) if timing else "-",
            fnum(timing.steady_step, 3) if timing and timing.steady_step is not None else "-",
            user_peak(r),
            fnum(gen.s_per_answer, 2) if gen else "-",
            f"{_metric(r, 'base', 'bits_per_char', 2)} → {_metric(r, 'tuned', 'bits_per_char', 2)}",
            _metric(r, "tuned", "chrf", 1),
            *([truncated_cell(r)] if cut else []),
            "" if r.key in ran else "kept",
            style=STATUS_STYLE.get(r.status),
        )
    return t


def footnotes(results: list[RunResult]) -> list[str]:
    notes = []
    if any(r.weights and r.weights.mode == "shape" for r in results):
        notes.append("Shape mode: random weights — time and memory are real, quality is not.")
    cut = [r for r in results if truncated_rows(r)]
    if cut:
        lengths = join_and(sorted({str(r.request.train.max_length) for r in cut}))
        notes.append(
            f"Rows cut to max_length: {len(cut)} run(s) trained on training rows longer than max_length ({lengths}"
            " tokens), cut to it by the trainer: those rows trained on their start only. Raise train.max_length,"
            " or use shorter rows, to train on them whole."
        )
    marks = [
        m
        for m, attr in ((" *", "torch max reserved"), (" RSS", "host RSS"))
        if any(user_peak(r).endswith(m) for r in results)
    ]
    if marks:
        notes.append(
            "User peak: NVML per-process unless marked; "
            + join_and(
                f"'{m.strip()}' = {a}"
                for m, a in ((" *", "torch max reserved"), (" RSS", "host RSS (CPU run)"))
                if m in marks
            )
            + "."
        )
    return notes
