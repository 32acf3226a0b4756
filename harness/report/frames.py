"""Flat tables: results.csv (one row per run) and the per-candidate CSVs (the team's table shape)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from harness.atomic import atomic_write_text
from harness.report.load import PACKAGES_SHOWN, ResultSet, Run, phase_sort_key
from harness.report.prices import PriceTable
from harness.result import Effective

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


def run_row(
    run: Run, rs: ResultSet, prices: PriceTable, phases: list[str], metrics: dict[str, list[str]]
) -> dict[str, Any]:
    r = run.result
    info = rs.candidate_info(run)
    row: dict[str, Any] = {
        "candidate": run.candidate,
        "rank": run.rank,
        "backend": run.backend,
        "quant": run.quant,
        "weights_mode": run.weights_mode,
        "status": run.status,
        "reason": r.reason,
        "key": run.key,
        "label": r.label,
        "file": f"runs/{run.file}",
        "params_b": info.get("params_b"),
        "ko_llm_avg": info.get("ko_llm_avg"),
        "device": run.device,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "run_wall_s": r.wall_s,
    }
    for name in phases:
        p = run.phase(name)
        for col, attr in PHASE_FIELDS:
            row[f"{name}_{col}"] = getattr(p, attr) if p is not None else None
    b = r.baseline
    for col, attr in PHASE_FIELDS[1:6]:
        row[f"baseline_{col}"] = getattr(b, attr) if b is not None else None
    for k, v in sorted(r.one_time.items()):
        row[f"one_time_{k}"] = v
    st = r.steps
    row["steps_timed"] = len(st.times_s) if st else None
    row["burn_in_steps"] = st.burn_in_steps if st else None
    for f in ("burn_in_s", "steady_mean_s", "steady_p50_s", "steady_p90_s", "steady_p99_s"):
        row[f] = getattr(st, f) if st else None
    tm, pm = run.train_mem, run.peak_mem
    row["train_peak_mib"], row["train_peak_measure"] = tm.mib, tm.measure
    row["run_peak_mib"], row["run_peak_measure"] = pm.mib, pm.measure
    for stage in ("base", "tuned"):
        g = run.gen(stage)
        for f in GEN_FIELDS:
            row[f"gen_{stage}_{f}"] = getattr(g, f) if g is not None else None
    row["quality_meaningful"] = None if not r.quality else not run.shape
    for stage in ("base", "tuned"):
        for metric in ["composite", *metrics.get(stage, [])]:
            d = run.metric(stage, metric) or {}
            for k in STAT_KEYS:
                row[f"quality_{stage}_{metric}_{k}"] = d.get(k)
    tvb = (
        (r.quality.get("composite") or {}).get("tuned_vs_base")
        if isinstance(r.quality.get("composite"), dict)
        else None
    )
    tvb = tvb if isinstance(tvb, dict) else {}
    for k in ("diff_mean", "lo", "hi", "n"):
        row[f"quality_tuned_vs_base_{k}"] = tvb.get(k)
    eff = r.effective
    for f in Effective.model_fields:
        row[f"eff_{f}"] = _flat(getattr(eff, f)) if eff is not None else None
    env = r.environment
    for f in (
        "host",
        "gpu_name",
        "gpu_total_mib",
        "compute_capability",
        "driver",
        "cuda",
        "python",
        "platform",
        "cpu_count",
    ):
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
    row["billed_hours"] = cost.hours  # GPU-hours on GPU runs, CPU-hours on CPU runs
    row["price_name"] = cost.price_name
    row["price_per_hour"] = cost.per_hour
    row["cost"] = cost.money
    row["currency"] = prices.currency if cost.money is not None else None
    row["energy_j"] = run.energy_j
    row["energy_wh"] = run.energy_j / 3600 if run.energy_j is not None else None
    fit = prices.fit(pm.mib, pm.measure, run.device)
    row["fits_peak_mib"] = fit.peak_mib
    row["fits_measure"] = fit.measure
    row["fits_margin"] = prices.margin
    row["fits_needed_mib"] = fit.needed_mib
    row["fits_on"] = fit.fits_on or None
    for g in prices.budget_gpus:
        v = fit.fits.get(g.name)
        row[f"fits_{g.name}"] = None if not fit.applicable or fit.needed_mib is None else ("yes" if v else "no")
    return row


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Integer columns with gaps stay integers (pandas would make them floats); nulls stay empty."""
    for col in df.columns:
        vals = [v for v in df[col].tolist() if v is not None and not (isinstance(v, float) and pd.isna(v))]
        if vals and all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
            df[col] = df[col].astype("Int64")
    return df


def results_frame(rs: ResultSet, prices: PriceTable) -> pd.DataFrame:
    phases = sorted({n for run in rs.runs for n in run.result.phases}, key=phase_sort_key)
    metrics: dict[str, list[str]] = {}
    for stage in ("base", "tuned"):
        seen: list[str] = []
        for run in rs.runs:
            seen += [m for m in run.metrics(stage) if m not in seen]
        metrics[stage] = seen
    rows = [run_row(run, rs, prices, phases, metrics) for run in sort_runs(rs.runs)]
    if not rows:
        return pd.DataFrame(
            columns=["candidate", "rank", "backend", "quant", "weights_mode", "status", "reason", "key"]
        )
    return _typed(pd.DataFrame(rows, dtype=object))


def sort_runs(runs: list[Run]) -> list[Run]:
    return sorted(runs, key=lambda r: (r.candidate, r.backend, r.quant, r.weights_mode, r.rank or 0, r.key))


def candidate_frame(runs: list[Run]) -> pd.DataFrame:
    """The team's table for one candidate: a row per rank (and backend/quant/weights when several)."""
    rows = []
    for run in sort_runs(runs):
        train, gen = run.phase("train"), run.phase("generate_tuned") or run.phase("generate_base")
        g = run.gen_tuned
        comp = run.composite("tuned") or {}
        rows.append(
            {
                "rank": run.rank,
                "backend": run.backend,
                "quant": run.quant,
                "weights_mode": run.weights_mode,
                "status": run.status,
                "finetune_s": train.wall_s if train else None,
                "finetune_peak_nvml_process_mib": train.nvml_process_peak_mib if train else None,
                "finetune_peak_torch_reserved_mib": train.torch_max_reserved_mib if train else None,
                "finetune_peak_torch_allocated_mib": train.torch_max_allocated_mib if train else None,
                "finetune_peak_host_rss_mib": train.host_rss_peak_mib if train else None,
                "inference_s_per_answer": g.s_per_answer if g else None,
                "inference_batch_size": g.batch_size if g else None,
                "inference_latency_s_per_answer_one_at_a_time": g.latency_s_per_answer if g else None,
                "inference_peak_nvml_process_mib": gen.nvml_process_peak_mib if gen else None,
                "inference_peak_torch_reserved_mib": gen.torch_max_reserved_mib if gen else None,
                "inference_peak_host_rss_mib": gen.host_rss_peak_mib if gen else None,
                "quality_tuned_composite": comp.get("mean"),
                "quality_tuned_composite_lo": comp.get("lo"),
                "quality_tuned_composite_hi": comp.get("hi"),
                "quality_meaningful": None if not run.result.quality else not run.shape,
                "reason": run.result.reason,
                "key": run.key,
            }
        )
    return _typed(pd.DataFrame(rows, dtype=object))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False, na_rep=""))
