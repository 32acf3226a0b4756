"""Flat tables: results.csv (one row per run) and the per-candidate CSVs (the team's table shape)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.atomic import atomic_write_text
from harness.phases import phase_sort_key
from harness.report.analysis import Analysis
from harness.report.analysis.memory import smallest_fit
from harness.report.analysis.stats import NONE, Est
from harness.report.analysis.timing import run_timing
from harness.report.load import PACKAGES_SHOWN, ResultSet, Run, sort_runs
from harness.report.prices import PriceTable
from harness.result import Effective, PhaseStats

PHASE_FIELDS = (
    ("s", "wall_s"),
    ("nvml_device_peak_mib", "nvml_device_used_peak_mib"),
    ("nvml_process_peak_mib", "nvml_process_peak_mib"),
    ("torch_allocated_peak_mib", "torch_max_allocated_mib"),
    ("torch_reserved_peak_mib", "torch_max_reserved_mib"),
    ("host_rss_peak_mib", "host_rss_peak_mib"),
    ("energy_j", "energy_j"),
    ("samples", "samples"),
)
GEN_FIELDS = (
    "batch_size",
    "max_new_tokens",
    "forced_new_tokens",
    "merged_adapter",
    "prompts",
    "new_tokens",
    "wall_s",
    "s_per_answer",
    "tokens_per_s",
    "latency_s_per_answer",
    "latency_prompts",
)
STAT_KEYS = ("mean", "lo", "hi", "n")
ONE_TIME_PARTS = ("start-up", "load", "setup", "first steps", "new shapes", "outside steps")
ENV_FIELDS = (
    "host",
    "gpu_name",
    "gpu_total_mib",
    "compute_capability",
    "driver",
    "cuda",
    "python",
    "platform",
    "cpu_count",
)


def safe_file_name(name: str, taken: set[str]) -> str:
    """A file stem from data: letters, digits, '.', '_' and '-' only, no leading dot, unique in `taken`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "candidate"
    stem = stem[:80]
    out, i = stem, 2
    while out.lower() in taken:
        out, i = f"{stem}_{i}", i + 1
    taken.add(out.lower())
    return out


def _flat(v: Any) -> Any:
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return v


def _est(row: dict[str, Any], prefix: str, e: Est, unit: str = "") -> None:
    row[f"{prefix}{unit}"] = e.mean
    row[f"{prefix}_lo{unit}"] = e.lo
    row[f"{prefix}_hi{unit}"] = e.hi


def _identity(run: Run) -> dict[str, Any]:
    r, info = run.result, run.info
    return {
        "candidate": run.candidate,
        "rank": run.rank,
        "backend": run.backend,
        "quant": run.quant,
        "weights_mode": run.weights_mode,
        "repeat": run.repeat,
        "status": run.status,
        "injected": run.injected,
        "reason": r.reason,
        "key": run.key,
        "label": r.label,
        "file": f"runs/{run.file}",
        "adapter": r.adapter,  # the saved LoRA adapter's folder (--save-adapters), relative to the results folder
        "params_b": info.get("params_b"),
        "ko_llm_avg": info.get("ko_llm_avg"),
        "license": info.get("license"),
        "device": run.device,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "run_wall_s": r.wall_s,
    }


def _timing(row: dict[str, Any], run: Run, analysis: Analysis) -> None:
    """The run's two-part time, and its cell's pooled figures and job projection (ok runs only)."""
    st = run.result.steps
    row["steps_timed"] = len(st.times_s) if st else None
    row["burn_in_steps"] = st.burn_in_steps if st else None
    for f in ("burn_in_s", "steady_mean_s", "steady_p50_s", "steady_p90_s", "steady_p99_s"):
        row[f] = getattr(st, f) if st else None
    t = run_timing(run.result)
    row["one_time_s"] = t.one_time_s if t else None
    for part in ONE_TIME_PARTS:
        row[f"one_time_{part.replace(' ', '_').replace('-', '')}_s"] = t.parts.get(part) if t else None
    row["steady_step_s"] = t.steady_step if t else None
    row["steady_step_method"] = t.method if t else None
    row["step_shapes_met"] = t.shapes_met if t else None
    row["first_shape_steps"] = " ".join(str(f.index) for f in t.first_shapes) if t else None
    cell = analysis.cell_of(run.key)
    counted = cell if cell is not None and any(x is run for x in cell.ok_runs) else None
    row["cell_repeats"] = cell.repeats if cell is not None else None
    _est(row, "cell_steady", counted.steady if counted else NONE, "_s")
    _est(row, "cell_one_time", counted.one_time if counted else NONE, "_s")
    proj = counted.projection if counted else None
    row["job"] = proj.text if proj else None
    row["job_steps"] = proj.steps if proj else None
    row["job_scaled_from_other_batch"] = proj.approximate if proj else None
    _est(row, "job_time", counted.job_time if counted else NONE, "_s")
    _est(row, "job_cost", counted.job_cost if counted else NONE)
    drow = next((x for x in analysis.decision.rows if x.cell is counted), None)
    row["score"] = drow.score if drow else None
    row["first_among_model_configurations"] = drow.config_share if drow else None
    row["first_of_all"] = drow.first_share if drow else None


def _quality(row: dict[str, Any], run: Run, analysis: Analysis, metrics: dict[str, list[str]]) -> None:
    q = analysis.quality.get(run.key)
    row["quality_meaningful"] = None if q is None and not run.metrics("tuned") else not run.shape
    for stage in ("base", "tuned"):
        d = (q.stage(stage) if q else None) or {}
        for k in STAT_KEYS:
            row[f"quality_{stage}_composite_{k}"] = d.get(k)
        for metric in metrics.get(stage, []):
            d = run.metric(stage, metric) or {}
            for k in STAT_KEYS:
                row[f"quality_{stage}_{metric}_{k}"] = d.get(k)
    tvb = (q.tuned_vs_base if q else None) or {}
    for k in ("diff_mean", "lo", "hi", "n"):
        row[f"quality_tuned_vs_base_{k}"] = tvb.get(k)


def run_row(
    run: Run, prices: PriceTable, analysis: Analysis, phases: list[str], metrics: dict[str, list[str]]
) -> dict[str, Any]:
    r = run.result
    row = _identity(run)
    for name in phases:
        p = run.phase(name)
        for col, attr in PHASE_FIELDS:
            row[f"{name}_{col}"] = getattr(p, attr) if p is not None else None
    b = r.baseline
    for col, attr in PHASE_FIELDS[1:6]:
        row[f"baseline_{col}"] = getattr(b, attr) if b is not None else None
    for k, v in sorted(r.one_time.items()):
        row[f"one_time_{k}"] = v
    _timing(row, run, analysis)
    up, sp, tm = run.user_peak, run.scoring_peak, run.train_mem
    row["user_work_peak_mib"], row["user_work_peak_measure"], row["user_work_peak_phase"] = up.mib, up.measure, up.phase
    row["scoring_peak_mib"], row["scoring_peak_measure"], row["scoring_peak_phase"] = sp.mib, sp.measure, sp.phase
    row["train_peak_mib"], row["train_peak_measure"] = tm.mib, tm.measure
    for stage in ("base", "tuned"):
        g = run.gen(stage)
        for f in GEN_FIELDS:
            row[f"gen_{stage}_{f}"] = getattr(g, f) if g is not None else None
    _quality(row, run, analysis, metrics)
    eff = r.effective
    for f in Effective.model_fields:
        row[f"eff_{f}"] = _flat(getattr(eff, f)) if eff is not None else None
    env = r.environment
    for f in ENV_FIELDS:
        row[f"env_{f}"] = getattr(env, f) if env is not None else None
    pkgs = env.packages if env is not None else {}
    for name in PACKAGES_SHOWN:
        row[f"pkg_{name}"] = pkgs.get(name)
    row["env_git_sha"] = env.git_sha if env is not None else None
    row["env_git_dirty"] = env.git_dirty if env is not None else None
    w = r.weights
    row["weights_source"] = w.source if w else None
    row["weights_params"] = w.params if w else None
    cost = prices.cost(run.billed_hours, run.device, run.gpu_name)
    row["billed_kind"] = cost.kind if run.device else None
    row["billed_hours"] = cost.hours  # user work: GPU-hours on GPU runs, CPU-hours on CPU runs
    row["price_name"] = cost.price_name
    row["price_per_hour"] = cost.per_hour
    row["cost"] = cost.money
    row["currency"] = prices.currency if cost.money is not None else None
    row["energy_j"] = run.energy_j
    row["energy_wh"] = run.energy_j / 3600 if run.energy_j is not None else None
    cell = analysis.cell_of(run.key)
    fit = cell.fit if cell is not None else None  # the configuration's verdict (harness.report.analysis.fits)
    known = fit is not None and fit.applicable and fit.needed_mib is not None
    row["fits_peak_mib"] = fit.peak_mib if fit is not None else None
    row["fits_measure"] = fit.measure if fit is not None else None
    row["fits_margin"] = prices.margin
    row["fits_needed_mib"] = fit.needed_mib if fit is not None else None
    row["fits_on"] = (fit.fits_on or None) if fit is not None else None
    small = smallest_fit(fit, prices) if known else None  # type: ignore[arg-type]
    row["fits_smallest"] = small.name if small else None
    for g in prices.budget_gpus:
        v = fit.gpus.get(g.name) if known else None  # type: ignore[union-attr]
        row[f"fits_{g.name}"] = None if v is None else {True: "yes", False: "no", None: "unknown"}[v.fits]
        row[f"fits_{g.name}_dtype"] = v.dtype if v is not None else None
        row[f"fits_{g.name}_basis"] = v.basis if v is not None else None
    return row


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns with gaps stay integers (pandas would make them floats); nulls stay empty."""
    for col in df.columns:
        vals = [v for v in df[col].tolist() if v is not None and not (isinstance(v, float) and pd.isna(v))]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[col] = df[col].astype("Int64")
    return df


def results_frame(rs: ResultSet, prices: PriceTable, analysis: Analysis) -> pd.DataFrame:
    """One row per run; phase columns in the run's phase order (harness.phases)."""
    phases = sorted({n for run in rs.runs for n in run.result.phases}, key=phase_sort_key)
    metrics: dict[str, list[str]] = {}
    for stage in ("base", "tuned"):
        seen: list[str] = []
        for run in rs.runs:
            seen += [m for m in run.metrics(stage) if m not in seen]
        metrics[stage] = seen
    rows = [run_row(run, prices, analysis, phases, metrics) for run in sort_runs(rs.runs)]
    if not rows:
        return pd.DataFrame(
            columns=["candidate", "rank", "backend", "quant", "weights_mode", "status", "reason", "key"]
        )
    return _typed(pd.DataFrame(rows, dtype=object))


PEAK_ATTRS = {
    "nvml_process": "nvml_process_peak_mib",
    "torch_reserved": "torch_max_reserved_mib",
    "torch_allocated": "torch_max_allocated_mib",
    "host_rss": "host_rss_peak_mib",
}


def _peaks(prefix: str, phase: PhaseStats | None, names: tuple[str, ...]) -> dict[str, float | None]:
    return {f"{prefix}_peak_{n}_mib": getattr(phase, PEAK_ATTRS[n]) if phase else None for n in names}


def candidate_frame(runs: list[Run], analysis: Analysis) -> pd.DataFrame:
    """The team's table for one candidate: a row per rank (and backend/quant/weights/repeat when several)."""
    rows = []
    for run in sort_runs(runs):
        train, gen = run.phase("train"), run.phase("generate_tuned") or run.phase("generate_base")
        g = run.gen_tuned
        q = analysis.quality.get(run.key)
        comp = (q.stage("tuned") if q else None) or {}
        t = run_timing(run.result)
        rows.append(
            {
                "rank": run.rank,
                "backend": run.backend,
                "quant": run.quant,
                "weights_mode": run.weights_mode,
                "repeat": run.repeat,
                "status": run.status_text,
                "finetune_s": train.wall_s if train else None,
                "finetune_one_time_s": t.one_time_s if t else None,
                "finetune_steady_step_s": t.steady_step if t else None,
                **_peaks("finetune", train, ("nvml_process", "torch_reserved", "torch_allocated", "host_rss")),
                "inference_s_per_answer": g.s_per_answer if g else None,
                "inference_batch_size": g.batch_size if g else None,
                "inference_latency_s_per_answer_one_at_a_time": g.latency_s_per_answer if g else None,
                **_peaks("inference", gen, ("nvml_process", "torch_reserved", "host_rss")),
                "user_work_peak_mib": run.user_peak.mib,
                "quality_tuned_composite": comp.get("mean"),
                "quality_tuned_composite_lo": comp.get("lo"),
                "quality_tuned_composite_hi": comp.get("hi"),
                "quality_meaningful": None if q is None else not run.shape,
                "reason": run.result.reason,
                "key": run.key,
            }
        )
    return _typed(pd.DataFrame(rows, dtype=object))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False, na_rep=""))
