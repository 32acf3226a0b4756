"""Command line: `python -m harness` or `harness`.

    harness list                                         # the candidates as a table
    harness bench                                        # embedded default: benchmarks/cpu-default.yaml
    harness bench --model gemma-2-2b-it --weights shape --ranks 16 32 64
    harness sweep benchmarks/seed-study.yaml --gpus 0,1
    harness run --model smollm2-135m --rank 16 --max-steps 4 --prompts 2
    harness report results/cpu-default
    harness grades export results/cpu-default --out sheet.csv
    harness grades import sheet.csv --results results/cpu-default

Bad input ends in one line on stderr and exit code 2; nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.config import (
    CANDIDATES_FILE,
    REPO_ROOT,
    SweepSpec,
    deep_merge,
    expand_sweep,
    load_candidates,
    load_sweep_spec,
    make_spec,
)
from harness.errors import EXIT_USER_ERROR, UserError

DEFAULT_SPEC = REPO_ROOT / "benchmarks" / "cpu-default.yaml"
STUDY_SPEC = REPO_ROOT / "benchmarks" / "seed-study.yaml"
RESULTS_ROOT = REPO_ROOT / "results"


def invocation() -> list[str]:
    """The command as a user would type it again (`python -m harness ...`, not the path of __main__.py)."""
    argv = list(sys.argv)
    if argv and (argv[0].endswith("__main__.py") or argv[0].endswith("cli.py")):
        return ["python", "-m", "harness", *argv[1:]]
    return argv


def _spec_path(p: str) -> Path:
    path = Path(p)
    if not path.exists() and (REPO_ROOT / p).exists():
        path = REPO_ROOT / p
    return path


def _gpus(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ids = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UserError(f"--gpus '{text}': give GPU indices separated by commas, e.g. --gpus 0,1") from None
    if not ids or any(i < 0 for i in ids) or len(set(ids)) != len(ids):
        raise UserError(f"--gpus '{text}': give distinct GPU indices >= 0, e.g. --gpus 0,1")
    return ids


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Command-line settings that override a spec's base (None = not given)."""
    o: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        if value is None:
            return
        node = o
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    put("data.path", getattr(args, "data", None))
    put("train.max_steps", getattr(args, "max_steps", None))
    put("data.eval_rows", getattr(args, "prompts", None))
    put("generation.max_new_tokens", getattr(args, "max_new_tokens", None))
    put("generation.batch_size", getattr(args, "gen_batch", None))
    put("device", getattr(args, "device", None))
    put("weights_path", getattr(args, "weights_path", None))
    if getattr(args, "trust_remote_code", False):
        o["trust_remote_code"] = True
    if getattr(args, "unsloth_compile", None):
        put("unsloth.compile", args.unsloth_compile)
    return o


def _apply(spec: SweepSpec, args: argparse.Namespace, source: str, **fields: Any) -> SweepSpec:
    """The spec with command-line settings applied, validated again (a bad --ranks is a one-line error)."""
    raw = deep_merge(spec.model_dump(mode="json"), fields)
    raw["base"] = deep_merge(raw.get("base", {}), _overrides(args))
    if getattr(args, "weights", None):
        raw["weights"] = args.weights
    return make_spec(raw, source)


def _preflight(spec: SweepSpec, source: str) -> list[Any]:
    """Validate everything before the first run: candidates, requests, data, trust_remote_code."""
    from harness import data

    candidates = load_candidates(CANDIDATES_FILE)
    requests = expand_sweep(spec, candidates, source)
    checked: set[tuple[str, str, str]] = set()
    for r in requests:
        if r.candidate.trust_remote_code and not r.trust_remote_code:
            raise UserError(
                f"candidate '{r.candidate.name}' runs code from its repository: pass --trust-remote-code "
                f"if you trust {r.candidate.hub_id}"
            )
        key = (r.data.path, r.data.format, r.data.prompt_template or r.candidate.prompt_template)
        if key in checked:
            continue
        checked.add(key)
        path = data.resolve_data_path(r.data.path)
        examples = data.load_examples(path, r.data.format)
        splits = data.select_rows(examples, r.data.train_rows, r.data.eval_rows, r.data.grade_rows, str(path))
        template = r.data.prompt_template or r.candidate.prompt_template
        data.validate_template(template, splits.train + splits.eval + splits.grade)
    return requests


def _sweep(spec: SweepSpec, source: str, args: argparse.Namespace) -> int:
    from harness.report import build_report
    from harness.summary import print_summary
    from harness.sweep import run_sweep

    requests = _preflight(spec, source)
    results_dir = Path(args.results_root) / spec.name
    outcome = run_sweep(
        spec,
        requests,
        results_dir,
        gpus=_gpus(getattr(args, "gpus", None)),
        executor=getattr(args, "executor", "local"),
        ray_address=getattr(args, "ray_address", None),
        retry_failed=getattr(args, "retry_failed", False),
        rerun=getattr(args, "rerun", False),
        timeout_s=getattr(args, "timeout", None),
        command=invocation(),
    )
    files = build_report(results_dir)
    print_summary(outcome.results, results_dir, spec)
    print(f"report: {files.html}")
    return 0


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    cands = load_candidates(CANDIDATES_FILE)
    t = Table(title=f"candidates ({CANDIDATES_FILE.name})")
    for col in ("name", "hub id", "params", "Ko-LLM avg", "family", "license", "weights", "unsloth"):
        t.add_column(col)
    for c in cands.candidates:
        t.add_row(
            c.name, c.hub_id, f"{c.params_b:.2f} B", "-" if c.ko_llm_avg is None else f"{c.ko_llm_avg:.2f}",
            c.family, c.license, c.weights, "native" if c.unsloth_native else "generic",
        )  # fmt: skip
    Console().print(t)
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    path = _spec_path(args.spec)
    spec = _apply(load_sweep_spec(path), args, str(path))
    return _sweep(spec, str(path), args)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.spec:
        return cmd_sweep(argparse.Namespace(**{**vars(args), "spec": args.spec}))
    if not args.model:
        axes = {k: v for k, v in (("ranks", args.ranks), ("backends", args.backends), ("quants", args.quants)) if v}
        spec = _apply(load_sweep_spec(DEFAULT_SPEC), args, "command line", axes=axes)
        return _sweep(spec, str(DEFAULT_SPEC), args)
    # a one-line sweep with the study's settings
    study = load_sweep_spec(STUDY_SPEC)
    weights = args.weights or "real"
    spec = _apply(study, args, "command line", name=f"bench-{args.model}-{weights}", weights=weights,
                  description=f"make bench MODEL={args.model} with the seed study's settings",
                  axes={"candidates": [args.model], "ranks": args.ranks or [16, 32, 64],
                        "backends": args.backends or ["hf"], "quants": args.quants or ["none"]})  # fmt: skip
    return _sweep(spec, f"--model {args.model}", args)


def cmd_run(args: argparse.Namespace) -> int:
    study = load_sweep_spec(STUDY_SPEC)
    name = args.name or f"run-{args.model}-r{args.rank}-{args.backend}-{args.quant}-{args.weights or 'real'}"
    spec = _apply(study, args, "command line", name=name, weights=args.weights or "real",
                  axes={"candidates": [args.model], "ranks": [args.rank], "backends": [args.backend],
                        "quants": [args.quant]})  # fmt: skip
    return _sweep(spec, f"--model {args.model}", args)


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    d = Path(args.results_dir)
    if not (d / "runs").is_dir():
        raise UserError(f"{d}: not a results folder (no runs/ inside); give the folder a sweep wrote")
    files = build_report(d)
    for f in (files.csv, files.markdown, files.html):
        print(f)
    return 0


def cmd_grades(args: argparse.Namespace) -> int:
    from harness.quality import grades

    if args.grades_cmd == "export":
        src = Path(args.source)
        out = Path(args.out) if args.out else (src if src.is_dir() else src.parent) / "grading-sheet.csv"
        n = grades.export_sheet(src, out)
        print(f"{out}: {n} answers to grade (최상=5, 상=4, 중=3, 하=2, 최하=1)")
    else:
        results = Path(args.results) if args.results else Path(args.file).parent
        n = grades.import_sheet(Path(args.file), results)
        print(f"{results / 'grades.json'}: {n} grades merged; run `harness report {results}` to show them")
    return 0


def cmd_selfbench(args: argparse.Namespace) -> int:
    from harness.selfbench import main as selfbench_main

    return selfbench_main(Path(args.out))


# ---------------------------------------------------------------- parser


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", choices=["real", "shape"], help="real weights, or shape mode (random weights)")
    p.add_argument("--weights-path", help="local folder with real weights (save_pretrained layout)")
    p.add_argument("--data", help="data file (team CSV, alpaca JSON/JSONL, KorQuAD)")
    p.add_argument("--max-steps", type=int, help="training steps (overrides epochs)")
    p.add_argument("--prompts", type=int, help="held-out prompts to answer and score")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--gen-batch", type=int, help="prompts per generate() call")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--trust-remote-code", action="store_true", help="allow a candidate's own model code to run")
    p.add_argument("--unsloth-compile", choices=["default", "block_off", "all_off"])
    p.add_argument("--timeout", type=int, help="seconds per run (default: the spec's)")
    p.add_argument("--results-root", default=str(RESULTS_ROOT), help="folder for results (git ignores results/)")
    p.add_argument("--gpus", help="run one run per GPU at once, e.g. 0,1")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="Ray cluster address (ray executor); 'local' starts one here")
    p.add_argument("--retry-failed", action="store_true", help="rerun failed runs (oom, crashed, timeout, failed)")
    p.add_argument("--rerun", action="store_true", help="rerun every run, finished ones too")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="harness", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    sub.add_parser("list", help="the candidates as a table").set_defaults(func=cmd_list)

    p = sub.add_parser("bench", help="what `make bench` runs")
    p.add_argument("--model", help="one candidate (default: the embedded default spec)")
    p.add_argument("--ranks", type=int, nargs="+")
    p.add_argument("--backends", nargs="+", choices=["hf", "unsloth"])
    p.add_argument("--quants", nargs="+", choices=["none", "nf4"])
    p.add_argument("--spec", help="a sweep spec YAML instead of --model")
    _add_run_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("sweep", help="run a sweep spec (resumes: finished runs are kept)")
    p.add_argument("spec")
    _add_run_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("run", help="one run, in its own process")
    p.add_argument("--model", required=True)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--backend", choices=["hf", "unsloth"], default="hf")
    p.add_argument("--quant", choices=["none", "nf4"], default="none")
    p.add_argument("--name", help="results folder name")
    _add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="results.csv, report.md and report.html from a results folder")
    p.add_argument("results_dir")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("grades", help="grade answers by hand on the team's five-level scale")
    gs = p.add_subparsers(dest="grades_cmd", required=True)
    e = gs.add_parser("export", help="write a grading sheet (CSV) for a results folder or run file")
    e.add_argument("source")
    e.add_argument("--out")
    i = gs.add_parser("import", help="merge a filled grading sheet into a results folder")
    i.add_argument("file")
    i.add_argument("--results", help="results folder (default: the sheet's folder)")
    p.set_defaults(func=cmd_grades)

    p = sub.add_parser("selfbench", help="the harness measuring itself (GPU): tracker accuracy, overheads")
    p.add_argument("--out", default=str(RESULTS_ROOT / "selfbench"))
    p.set_defaults(func=cmd_selfbench)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume (finished runs are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
