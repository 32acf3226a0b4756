"""Fit the memory model's few coefficients from measured runs, and validate it without tuning it to pass.

    python -m harness.memory.fit                  # print the tables
    python -m harness.memory.fit --write          # also write coefficients.yaml and reports/memory-model/

- fit: k_act and the loss's backward transient from the train peaks, the generation logits from the
  generate peaks (least squares on relative error, coefficients kept >= 0); allocator slack and CUDA
  context from the NVML and reserved figures. Everything else is theory or counted.
- leave one out: for each candidate (and, stricter, each architecture family) fit on the other
  runs only and predict the left-out runs' torch max allocated and NVML process peaks.
- the team's T4 table: their memory_allocated() after training against theory alone (no fitted term).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import EXIT_USER_ERROR, UserError
from harness.memory import runs as runs_mod
from harness.memory.coefficients import COEFFICIENTS_FILE, Coefficients, dump_coefficients, write_coefficients
from harness.memory.gpus import MIB
from harness.memory.loo import LooRow, loo_summary, loo_table
from harness.memory.model import predict
from harness.memory.runs import Observation
from harness.memory.team import t4_markdown, t4_table

REPO = Path(__file__).resolve().parents[2]
DEFAULT_RUNS = ("reports/seed-study-h100-m2", "reports/bench-gemma-2-2b-it-r16-h100", "reports/sweep-failure-h100")
REPORT_DIR = REPO / "reports" / "memory-model"
PHASES = ("train", "generate")


def _zero(context: dict[str, dict[str, float]] | None = None) -> Coefficients:
    return Coefficients(k_act=0.0, logits_transient_bytes=0.0, generate_logits_bytes=0.0,
                        slack_train_per_logits_byte=0.0, slack_generate_mib=0.0, context_mib=context or {},
                        source="basis", runs=["basis"])  # fmt: skip


def _alloc(obs: Observation, coef: Coefficients, phase: str) -> float:
    return predict(obs.config, obs.settings, _gpu(obs), coef)[phase].torch_allocated_mib


def _gpu(obs: Observation) -> Any:
    from harness.memory.gpus import GPU, gpu_for_name

    g = gpu_for_name(obs.gpu)
    if g is not None:
        return g
    # a GPU outside the table: its workspace size follows its compute capability, unknown here -> >= 9
    return GPU(key=obs.gpu, name=obs.gpu, memory_mib=0, compute_capability=(9, 0), dtypes=("bf16",), memory_source="")


def _logits_fp32_mib(obs: Observation) -> float:
    from harness.memory.shape import model_shape

    cfg = {k: v for k, v in obs.config.items() if k != "model_type"}
    vocab = model_shape(obs.config["model_type"], cfg, obs.settings.targets).vocab
    return obs.settings.batch * obs.settings.seq_len * vocab * 4 / MIB


def _nnls_relative(basis: np.ndarray, target: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """Least squares on relative error, coefficients >= 0 (a negative one is dropped and the rest refitted)."""
    a = basis / measured[:, None]
    b = target / measured
    active = list(range(basis.shape[1]))
    sol = np.zeros(basis.shape[1])
    while active:
        x, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (x >= 0).all():
            sol[active] = x
            break
        active.pop(int(np.argmin(x)))
    return sol


def fit(observations: list[Observation], source: str = "") -> Coefficients:
    if not observations:
        raise UserError("no measured runs to fit the memory model on")
    zero = _zero()
    # train: alloc = fixed + k_act * act + c_t * tokens * vocab
    unit_act = replace(zero, k_act=1.0)
    unit_logit = replace(zero, logits_transient_bytes=1.0)
    fixed = np.array([_alloc(o, zero, "train") for o in observations])
    act = np.array([_alloc(o, unit_act, "train") for o in observations]) - fixed
    nv = np.array([_alloc(o, unit_logit, "train") for o in observations]) - fixed
    meas = np.array([o.phases["train"].allocated_mib for o in observations])
    k_act, c_t = _nnls_relative(np.stack([act, nv], axis=1), meas - fixed, meas)
    # generate: alloc = fixed + c_gv * rows * vocab
    g_fixed = np.array([_alloc(o, zero, "generate") for o in observations])
    g_unit = np.array([_alloc(o, replace(zero, generate_logits_bytes=1.0), "generate") for o in observations]) - g_fixed
    g_meas = np.array([o.phases["generate"].allocated_mib for o in observations])
    (c_gv,) = _nnls_relative(g_unit[:, None], g_meas - g_fixed, g_meas)
    # slack (reserved - allocated): runs whose allocator already held the shape build's blocks are left out
    cold = [o for o in observations if not o.allocator_warm] or observations
    xs = np.array([_logits_fp32_mib(o) for o in cold])
    ys = np.array([o.phases["train"].reserved_mib - o.phases["train"].allocated_mib for o in cold])
    slack_t = float(max(0.0, (xs @ ys) / (xs @ xs))) if xs.any() else 0.0
    slack_g = float(np.mean([o.phases["generate"].reserved_mib - o.phases["generate"].allocated_mib for o in cold]))
    context: dict[str, dict[str, float]] = {}
    for gpu_name in sorted({o.gpu for o in observations}):
        mine = [o for o in observations if o.gpu == gpu_name]
        context[gpu_name] = {
            ph: float(np.mean([o.phases[ph].nvml_process_mib - o.phases[ph].reserved_mib for o in mine]))
            for ph in PHASES
        }
    return Coefficients(
        k_act=float(k_act),
        logits_transient_bytes=float(c_t),
        generate_logits_bytes=float(c_gv),
        slack_train_per_logits_byte=slack_t,
        slack_generate_mib=max(0.0, slack_g),
        context_mib=context,
        source=source or "harness.memory.fit",
        runs=[f"{_rel(o.path)}: {o.key}" for o in observations],
        train_tokens=sorted({o.settings.batch * o.settings.seq_len for o in observations}),
    )


def _rel(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return path


# ---------------------------------------------------------------- validation


def leave_one_out(observations: list[Observation], group: Callable[[Observation], str]) -> list[LooRow]:
    rows: list[LooRow] = []
    for name in sorted({group(o) for o in observations}, key=lambda n: [group(o) for o in observations].index(n)):
        train = [o for o in observations if group(o) != name]
        test = [o for o in observations if group(o) == name]
        if not train:
            continue
        coef = fit(train)
        for o in test:
            pred = predict(o.config, o.settings, _gpu(o), coef)
            for ph in PHASES:
                m = o.phases[ph]
                rows.append(LooRow(name, o.label, ph, m.allocated_mib, pred[ph].torch_allocated_mib,
                                   m.nvml_process_mib or float("nan"), pred[ph].nvml_process_mib, len(train)))  # fmt: skip
    return rows


def _csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv
    import io

    from harness.atomic import atomic_write_text

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.memory.fit", description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", default=list(DEFAULT_RUNS), help="report folders with runs/")
    ap.add_argument("--write", action="store_true", help="write coefficients.yaml and the report folder")
    ap.add_argument("--out", default=str(REPORT_DIR), help="report folder (with --write)")
    args = ap.parse_args(argv)
    try:
        return _main(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR


def _main(args: argparse.Namespace) -> int:
    folders = [Path(f) if Path(f).is_absolute() else REPO / f for f in args.folders]
    obs = runs_mod.load(folders)
    command = "python -m harness.memory.fit --write " + " ".join(args.folders)
    coef = fit(
        obs, source=f"{command} (run {dt.date.today().isoformat()}): {len(obs)} runs from {', '.join(args.folders)}"
    )
    envs = sorted({o.gpu for o in obs})
    coef = replace(coef, libraries=f"runs measured on {', '.join(envs)}")
    by_cand = leave_one_out(obs, lambda o: o.candidate)
    by_family = leave_one_out(obs, lambda o: o.family)
    t4 = t4_table()
    print(dump_coefficients(coef))
    print(loo_summary(by_cand))
    print(loo_table(by_cand, "left out"))
    print(t4_markdown(t4))
    if args.write:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_coefficients(coef, COEFFICIENTS_FILE)
        header = ["left_out", "run", "phase", "measured_alloc_mib", "predicted_alloc_mib", "alloc_error",
                  "measured_nvml_mib", "predicted_nvml_mib", "nvml_error", "fitted_on_runs"]  # fmt: skip
        for name, rows in (("loo-candidate.csv", by_cand), ("loo-family.csv", by_family)):
            _csv(out / name, header, [[r.left_out, r.run, r.phase, round(r.measured_alloc, 1), round(r.predicted_alloc, 1),
                                       round(r.alloc_err, 4), round(r.measured_nvml, 1), round(r.predicted_nvml, 1),
                                       round(r.nvml_err, 4), r.fitted_on] for r in rows])  # fmt: skip
        _csv(out / "t4-team.csv", ["candidate", "rank", "published_mib", "predicted_mib", "error", "stacked_mib",
                                   "alt_targets", "alt_predicted_mib"],
             [[r.candidate, r.rank, r.published, round(r.predicted, 1), round(r.err, 4),
               None if r.stacked is None else round(r.stacked, 1), " ".join(r.alt_targets or ()),
               None if r.alt_predicted is None else round(r.alt_predicted, 1)] for r in t4])  # fmt: skip
        from harness.memory.report import write_readme

        write_readme(out, coef, obs, by_cand, by_family, t4)
        print(f"wrote {COEFFICIENTS_FILE} and {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
