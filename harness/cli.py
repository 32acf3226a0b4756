"""Command line: `lora-harness` (installed) or `python -m harness` (a source tree).

    lora-harness list                                    # the candidates as a table
    lora-harness bench                                   # embedded default: benchmarks/cpu-default.yaml
    lora-harness bench --model gemma-2-2b-it --weights shape --ranks 16 32 64
    lora-harness bench --model Qwen/Qwen2.5-1.5B-Instruct --data my.csv   # any hub id, your data
    lora-harness bench --model ./my-finetune --train-rows 40 --prompts 10 # a local model folder
    lora-harness bench --spec benchmarks/seed-study.yaml --data ../shared/data/OhLoRA_fine_tuning.csv
    lora-harness sweep benchmarks/seed-study.yaml --gpus 0,1
    lora-harness run --model smollm2-135m --rank 16 --max-steps 4 --prompts 2
    lora-harness bench --model smollm2-135m --batch-sizes 2 4 --set train.learning_rate=1e-4 --set lora.alpha=32
    lora-harness report results/cpu-default
    lora-harness grades export results/cpu-default --out sheet.csv
    lora-harness grades import sheet.csv --results results/cpu-default

--model takes a candidate name, a hub id (org/name) or a model folder; --candidates FILE a team's own
list. Weights come from the Hugging Face cache, else the hub (HF_HUB_OFFLINE=1: cache only), fetched
before the first run starts. Relative paths resolve against the current directory; results go to
./results. Exit codes: 0 every run ok; 1 a run is not ok (its results and the report are still
written); 2 bad input (one line per problem on stderr; nothing is written); 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness import flags
from harness.backends import NAMES as BACKEND_NAMES
from harness.backends import QUANTS
from harness.config import (
    CANDIDATES_FILE,
    REPO_ROOT,
    CandidateFile,
    DataSettings,
    SweepSpec,
    base_problems,
    deep_merge,
    expand_sweep,
    load_candidates,
    load_sweep_spec,
    make_spec,
    parse_job,
)
from harness.errors import EXIT_USER_ERROR, UserError, UserErrors
from harness.memory import cli as memory_cli
from harness.overrides import apply_sets
from harness.setting_axes import add_setting_axes, setting_axes_given, setting_flags

DEFAULT_SPEC = REPO_ROOT / "benchmarks" / "cpu-default.yaml"
STUDY_SPEC = REPO_ROOT / "benchmarks" / "seed-study.yaml"
RESULTS_ROOT = Path("results")  # under the current directory
EXIT_NOT_OK = 1  # a run ended other than ok; its result and the report are written


def invocation() -> list[str]:
    """The command as a user would type it again (`python -m harness ...`, not the path of __main__.py)."""
    argv = list(sys.argv)
    if argv and (argv[0].endswith("__main__.py") or argv[0].endswith("cli.py")):
        return ["python", "-m", "harness", *argv[1:]]
    if argv:
        argv[0] = Path(argv[0]).name  # e.g. lora-harness, not the venv's path to it
    return argv


def version() -> str:
    from importlib import metadata

    from harness.versions import __version__

    try:
        return metadata.version("lora-harness")
    except metadata.PackageNotFoundError:
        return __version__


def _spec_path(p: str) -> Path:
    """A spec path: as given (relative to the current directory), else one of the shipped specs."""
    path = Path(p).expanduser()
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
    from harness import nvml  # torch-free

    n = nvml.gpu_count()
    if not n:
        raise UserError(f"--gpus {text}: {nvml.no_gpu_reason(n)}; leave --gpus out to run on the CPU")
    if max(ids) >= n:
        raise UserError(f"--gpus {text}: this machine has {n} GPU(s) (indices 0..{n - 1})")
    return ids


def _weights_path(args: argparse.Namespace) -> str | None:
    """--weights-path: an existing save_pretrained folder, for the one --model it is given with."""
    given = getattr(args, "weights_path", None)
    if given is None:
        return None
    if not getattr(args, "model", None):
        raise UserError(f"--weights-path {given}: give it with --model (it holds the weights of that one model)")
    p = Path(given).expanduser()
    if not p.is_dir():
        raise UserError(f"--weights-path {given}: no such folder; give the folder you saved with save_pretrained")
    if not (p / "config.json").is_file():
        raise UserError(
            f"--weights-path {given}: no config.json there; point it at a folder saved with save_pretrained"
        )
    return str(p.resolve())


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
    if getattr(args, "data_columns", None):
        from harness.data import parse_columns

        put("data.columns", parse_columns(args.data_columns))
    put("train.max_steps", getattr(args, "max_steps", None))
    put("data.train_rows", getattr(args, "train_rows", None))
    put("data.eval_rows", getattr(args, "prompts", None))
    put("generation.max_new_tokens", getattr(args, "max_new_tokens", None))
    put("generation.batch_size", getattr(args, "gen_batch", None))
    put("device", getattr(args, "device", None))
    put("weights_path", _weights_path(args))
    if getattr(args, "trust_remote_code", False):
        o["trust_remote_code"] = True
    if getattr(args, "save_adapters", False):
        o["save_adapter"] = True
    if getattr(args, "unsloth_compile", None):
        put("unsloth.compile", args.unsloth_compile)
    return o


def _apply(spec: SweepSpec, args: argparse.Namespace, source: str, **fields: Any) -> SweepSpec:
    """The spec with command-line settings applied, validated again (a bad --ranks is a one-line error)."""
    raw = deep_merge(spec.model_dump(mode="json"), fields)
    raw["base"] = deep_merge(raw.get("base", {}), _overrides(args))
    if getattr(args, "weights", None):
        raw["weights"] = args.weights
    if getattr(args, "repeats", None) is not None:  # 0 too: refused by the spec's check, not ignored
        raw["axes"]["repeats"] = args.repeats
    if getattr(args, "emulate", None):
        raw["axes"]["emulate"] = args.emulate
    if getattr(args, "job", None):
        raw["job"] = parse_job(args.job).model_dump(exclude_unset=True)
    raw = apply_sets(raw, getattr(args, "set", None))  # --set PATH=VALUE, last: it wins over the flags
    typed = flags.typed(args)
    changed = flags.changed_settings(typed)
    if changed:  # the spec's description states the spec's own settings (the report states those that ran)
        raw["description"] = f"{raw['name']} with {', '.join(changed)} given on the command line"
    problems = base_problems(raw["base"], source, typed)  # with the axes' problems: one line each
    try:
        spec = make_spec(raw, source, typed=typed)
    except UserErrors as e:
        raise UserErrors(list(dict.fromkeys(e.lines + problems))) from None
    if problems:
        raise UserErrors(problems)
    return spec


def _candidate_file(args: argparse.Namespace, weights_mode: str) -> tuple[CandidateFile, list[str], list[str]]:
    """candidates.yaml, or the team's own list (--candidates FILE); (file, notes, problem lines)."""
    given = getattr(args, "candidates", None)
    if not given:
        return load_candidates(CANDIDATES_FILE), [], []
    from harness.model_spec import load_candidate_list

    path = Path(given).expanduser()
    if not path.is_file():
        raise UserError(f"--candidates {given}: file not found (relative paths start at the current directory)")
    cf, built, problems = load_candidate_list(path, weights_mode, getattr(args, "trust_remote_code", False))
    return cf, [b.note for b in built], problems


def _check_data(spec: SweepSpec) -> None:
    """The data file, its format and the rows asked for: before any model is fetched."""
    from harness import data

    raw = spec.base.get("data")
    try:
        d = DataSettings.model_validate(raw if isinstance(raw, dict) else {})
    except ValidationError:
        return  # expand_sweep names the field
    loaded = data.load_data(d)  # a hub data set is fetched here, before any model
    data.select_rows(loaded.examples, d.train_rows, d.eval_rows, d.grade_rows, loaded.where)


def _preflight(spec: SweepSpec, source: str, args: argparse.Namespace | None = None) -> list[Any]:
    """Everything before the first run, in the parent: data, models (names, hub ids, folders), requests,
    trust_remote_code, then every run's weights (fetched now) or tokenizer. Nothing is written before it passes."""
    from harness import data
    from harness.sweep.preflight import PreflightError, check_weights, resolve_candidates

    args = args or argparse.Namespace()
    _check_data(spec)
    mode = str(spec.base.get("weights", spec.weights))
    trust = bool(getattr(args, "trust_remote_code", False))
    cands, notes, problems = _candidate_file(args, mode)
    found = resolve_candidates(spec.axes.candidates, cands, mode, trust)
    problems += found.problems
    notes += [b.note for b in found.built]
    requests = []
    if found.names:
        spec = spec.model_copy(update={"axes": spec.axes.model_copy(update={"candidates": found.names})})
        requests = expand_sweep(spec, found.candidates, source, typed=flags.typed(args))
    for r in requests:
        if r.candidate.trust_remote_code and not r.trust_remote_code:
            raise UserError(
                f"candidate '{r.candidate.name}' runs code from its repository: pass --trust-remote-code "
                f"if you trust {r.candidate.hub_id}"
            )
    checked: set[tuple[str, str, str, str]] = set()
    loads: dict[tuple[str, str, str, str], Any] = {}
    for r in requests:
        r.data.path = data.stored_data_path(r.data.path)  # the child starts elsewhere: keep a path it can reach
        source = (r.data.path, r.data.format, str(r.data.columns), str(r.data.revision))
        if source not in loads:
            loads[source] = data.load_data(r.data)
        loaded = loads[source]
        r.data.revision = loaded.revision  # a hub data set's commit: every run loads it, and it is in the key
        template = r.data.prompt_template or r.candidate.prompt_template
        key = (r.data.path, r.data.format, str(r.data.columns), template)
        if key in checked:
            continue
        checked.add(key)
        splits = data.select_rows(loaded.examples, r.data.train_rows, r.data.eval_rows, r.data.grade_rows, loaded.where)
        data.validate_template(template, splits.train + splits.eval + splits.grade)
    try:
        warnings = check_weights(requests, found.access)
    except PreflightError as e:
        problems += e.lines
        warnings = []
    if problems:
        raise PreflightError(list(dict.fromkeys(problems)))  # a list entry and its axis name: one line
    for line in notes:
        print(f"note: {line}", file=sys.stderr, flush=True)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr, flush=True)
    return requests


def _exit_code(results: list[Any]) -> int:
    """0 when every run of the sweep is ok, else 1 (warm-up runs, never reported, do not count)."""
    for r in results:
        req = r.request
        warmup = req.get("warmup", False) if isinstance(req, dict) else getattr(req, "warmup", False)
        if not warmup and r.status != "ok":
            return EXIT_NOT_OK
    return 0


def _made(args: argparse.Namespace, files: Any, outcome: Any = None, code: int = 0) -> None:
    """harness.bench and harness.report (harness/api.py) take what the command made from here."""
    made = getattr(args, "made", None)
    if made is not None:
        made.append((files, outcome, code))


def _sweep(spec: SweepSpec, source: str, args: argparse.Namespace, *, add: bool = False) -> int:
    from harness.report import build_report
    from harness.sweep import run_sweep

    gpus = _gpus(getattr(args, "gpus", None))  # before the preflight fetches anything
    timeout = getattr(args, "timeout", None)
    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout {timeout}: give the seconds a run may take, more than 0 (e.g. --timeout 900)")
    requests = _preflight(spec, source, args)
    results_dir = Path(args.results_root) / spec.name
    outcome = run_sweep(
        spec,
        requests,
        results_dir,
        gpus=gpus,
        executor=getattr(args, "executor", "local"),
        ray_address=getattr(args, "ray_address", None),
        retry_failed=getattr(args, "retry_failed", False),
        rerun=getattr(args, "rerun", False),
        timeout_s=getattr(args, "timeout", None),
        command=getattr(args, "command", None) or invocation(),  # harness.bench records its own call
        start=getattr(args, "start", "fork"),
        add=add,
    )
    files = build_report(results_dir)  # the sweep printed its one table; the report adds the answer
    print(files.answer)
    print(f"report: {files.html}")
    code = _exit_code(outcome.results)
    _made(args, files, outcome, code)
    if code:
        print("exit 1: a run did not end ok (see its status above; results and report are written)", file=sys.stderr)
    return code


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
    print("--model also takes a hub id (org/name) or a local model folder; --candidates FILE a list of your own")
    return 0


def _axes(args: argparse.Namespace) -> dict[str, Any]:
    """Axes given on the command line (--model, --ranks, --backends, --quants, --emulate, and the setting axes)."""
    axes: dict[str, Any] = {}
    if getattr(args, "model", None):
        axes["candidates"] = [args.model]
    for name in ("ranks", "backends", "quants", "emulate"):
        if getattr(args, name, None):
            axes[name] = getattr(args, name)
    return {**axes, **setting_axes_given(args)}


def cmd_sweep(args: argparse.Namespace) -> int:
    path = _spec_path(args.spec)
    spec = load_sweep_spec(path)
    axes = _axes(args)
    spec = _apply(spec, args, str(path), **({"axes": axes} if axes else {}))
    # narrowed from the command line (bench --spec S --model M --ranks R --repeats 3): the runs join the
    # spec's folder, whose earlier runs stay in its report
    return _sweep(spec, str(path), args, add=bool(axes))


def _list_names(args: argparse.Namespace) -> list[str]:
    """Every entry of --candidates FILE, as the axis (names, hub ids and folders alike)."""
    from harness.model_spec import candidate_items

    path = Path(args.candidates).expanduser()
    if not path.is_file():
        raise UserError(
            f"--candidates {args.candidates}: file not found (relative paths start at the current directory)"
        )
    items = candidate_items(path)  # a file that parses to nothing is named, with what it holds
    names = [x.get("name") if isinstance(x, dict) else x for x in items]
    return [str(n) for n in names if n]


def _short(model: str) -> str:
    from harness.model_spec import safe_name

    return safe_name(model.rstrip("/").split("/")[-1])


def cmd_bench(args: argparse.Namespace) -> int:
    if args.spec:
        return cmd_sweep(argparse.Namespace(**{**vars(args), "spec": args.spec}))
    if not args.model and not getattr(args, "candidates", None):
        default = load_sweep_spec(DEFAULT_SPEC)
        # another data file: its own results folder, next to (not over) the default run's
        named = {"name": f"{default.name}-{flags.data_name(args.data)}"} if args.data else {}
        spec = _apply(default, args, "command line", axes=_axes(args), **named)
        return _sweep(spec, str(DEFAULT_SPEC), args)
    # one model (or the team's list) with the study's settings, on the project's sample data unless --data
    study = load_sweep_spec(STUDY_SPEC)
    weights = args.weights or "real"
    models = [args.model] if args.model else _list_names(args)
    what = _short(args.model or Path(args.candidates).stem)
    spec = _apply(study, args, "command line", name=f"bench-{what}-{weights}", weights=weights,
                  description=f"make bench MODEL={args.model or args.candidates} with the seed study's settings",
                  axes={"candidates": models, "ranks": args.ranks or [16, 32, 64],
                        "backends": args.backends or ["hf"], "quants": args.quants or ["none"],
                        **setting_axes_given(args)})  # fmt: skip
    return _sweep(spec, f"--model {args.model}" if args.model else f"--candidates {args.candidates}", args)


def cmd_run(args: argparse.Namespace) -> int:
    study = load_sweep_spec(STUDY_SPEC)
    short = _short(args.model)
    name = args.name or f"run-{short}-r{args.rank}-{args.backend}-{args.quant}-{args.weights or 'real'}"
    spec = _apply(study, args, "command line", name=name, weights=args.weights or "real",
                  axes={"candidates": [args.model], "ranks": [args.rank], "backends": [args.backend],
                        "quants": [args.quant], **setting_axes_given(args)})  # fmt: skip
    return _sweep(spec, f"--model {args.model}", args)


def _results_folder(arg: str) -> Path:
    d = Path(arg)
    if not (d / "runs").is_dir():
        raise UserError(f"{d}: not a results folder (no runs/ inside); give the folder a sweep wrote")
    return d


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    d = _results_folder(args.results_dir)
    job = parse_job(args.job) if args.job else None
    weights = _quality_weights(args.quality_weights) if args.quality_weights else None
    if getattr(args, "push_to_hub", None):
        from harness.report import hub

        hub.check_repo_id(args.push_to_hub)
    files = build_report(d, job=job, quality_weights=weights, predict_memory=True)
    for w in files.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in (files.csv, files.markdown, files.html):
        print(f)
    _made(args, files)
    if getattr(args, "push_to_hub", None):
        print(f"pushed: {hub.push(d, args.push_to_hub)}")  # after the report is written: a failure keeps it
    return 0


def cmd_deciding(args: argparse.Namespace) -> int:
    """One line per configuration that decides the ranking: `--model M --ranks R --backends B --quants Q`."""
    from harness.report.analysis.decision import deciding
    from harness.report.build import analyse_folder

    d = _results_folder(args.results_dir)
    analysis = analyse_folder(d)
    rows = deciding(analysis.decision, top=args.top)
    if not rows:
        raise UserError(f"{d}: no run ended ok, so nothing decides a ranking yet")
    for row in rows:
        c = row.cell
        print(
            f"--model {c.candidate} --ranks {c.rank} --backends {c.backend} --quants {c.quant}{setting_flags(c.first)}"
        )
    return 0


def _quality_weights(text: str) -> dict[str, float]:
    """'chrf=2,contains=1' -> {"chrf": 2.0, "contains": 1.0}; names are checked by the quality module."""
    from harness.quality.score import resolve_weights

    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--quality-weights: '{part}' is not NAME=NUMBER (e.g. chrf=2,contains=1)") from None
        if not sep:
            raise UserError(f"--quality-weights: '{part}' is not NAME=NUMBER (e.g. chrf=2,contains=1)")
    resolve_weights(out)  # a one-line UserError for an unknown name
    return out


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
        print(f"{results / 'grades.json'}: {n} grades merged; run `lora-harness report {results}` to show them")
    return 0


def cmd_selfbench(args: argparse.Namespace) -> int:
    from harness.selfbench import main as selfbench_main

    return selfbench_main(Path(args.out))


# ---------------------------------------------------------------- parser


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", choices=["real", "shape"], help="real weights, or shape mode (random weights)")
    p.add_argument("--weights-path", help="folder with the real weights of the one --model (save_pretrained layout)")
    p.add_argument("--data", help="data file (team CSV, alpaca JSON/JSONL, KorQuAD) or hub data set org/name[:split];"
                   " make: DATA=...")  # fmt: skip
    p.add_argument("--data-columns", metavar="ROLE=COLUMN,...",
                   help="a hub data set's columns, e.g. question=instruction,answer=output,context=input")  # fmt: skip
    p.add_argument("--candidates", help="your own candidates list (YAML: full entries, hub ids or model folders)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE",
                   help="any spec field, repeatable: --set train.learning_rate=1e-4 --set lora.alpha=32")  # fmt: skip
    p.add_argument("--max-steps", type=int, help="training steps (overrides epochs)")
    add_setting_axes(p)
    p.add_argument("--repeats", type=int, help="runs of each configuration, each its own process (run-to-run noise)")
    p.add_argument("--job", help="the fine-tune you will really run, projected from the measured steps: "
                   "ROWSxEPOCHS@BATCH (e.g. 200x3@4) or a step count")  # fmt: skip
    p.add_argument("--train-rows", type=int, help="rows of the data file to fine-tune on")
    p.add_argument("--prompts", type=int, help="held-out prompts to answer and score")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--gen-batch", type=int, help="prompts per generate() call")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--trust-remote-code", action="store_true", help="allow a candidate's own model code to run")
    p.add_argument("--unsloth-compile", choices=["default", "block_off", "all_off"])
    p.add_argument(
        "--emulate", nargs="+", metavar="GPU",
        help="measure as if on a smaller GPU of the price file's fits table (e.g. T4 M6000): its memory caps the"
        " allocator, its compute capability sets the dtype and what cannot run; time stays this GPU's",
    )  # fmt: skip
    p.add_argument("--timeout", type=int, help="seconds per run (default: the spec's)")
    p.add_argument("--save-adapters", action="store_true",
                   help="keep each ok run's LoRA adapter (PEFT layout) in results/<sweep>/adapters/<run>/")  # fmt: skip
    p.add_argument("--results-root", default=str(RESULTS_ROOT), help="folder for results (default: ./results)")
    p.add_argument("--gpus", help="run one run per GPU at once, e.g. 0,1")
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--ray-address", help="Ray cluster address (ray executor); 'local' starts one here")
    p.add_argument("--retry-failed", action="store_true", help="rerun failed runs (oom, crashed, timeout, failed)")
    p.add_argument("--rerun", action="store_true", help="rerun every run, finished ones too")
    p.add_argument(
        "--start",
        choices=["fork", "fresh"],
        default="fork",
        help="fork each run from a process that imported the libraries (default), or start a fresh interpreter",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lora-harness", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--version", action="version", version=f"lora-harness {version()}")
    sub = ap.add_subparsers(dest="cmd", required=True)

    sub.add_parser("list", help="the candidates as a table").set_defaults(func=cmd_list)

    p = sub.add_parser("bench", help="what `make bench` runs")
    p.add_argument(
        "--model", help="a candidate name, hub id (org/name) or model folder (default: the embedded default)"
    )
    p.add_argument("--ranks", type=int, nargs="+")
    p.add_argument("--backends", nargs="+", choices=BACKEND_NAMES)
    p.add_argument("--quants", nargs="+", choices=QUANTS)
    p.add_argument(
        "--spec",
        help="a sweep spec YAML; with --model/--ranks/--backends/--quants: those runs with that spec's settings,"
        " added to its results folder (its other runs stay in the report)",
    )
    _add_run_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("sweep", help="run a sweep spec (resumes: finished runs are kept)")
    p.add_argument("spec")
    _add_run_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("run", help="one run, in its own process")
    p.add_argument("--model", required=True, help="a candidate name, hub id (org/name) or model folder")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--backend", choices=BACKEND_NAMES, default="hf")
    p.add_argument("--quant", choices=QUANTS, default="none")
    p.add_argument("--name", help="results folder name")
    _add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="results.csv, report.md and report.html from a results folder")
    p.add_argument("results_dir")
    p.add_argument("--job", help="project this fine-tune instead of the spec's: ROWSxEPOCHS@BATCH or a step count")
    p.add_argument("--quality-weights", help="composite score weights, e.g. chrf=2,contains=1 (no rerun needed)")
    p.add_argument("--push-to-hub", metavar="ORG/NAME",
                   help="upload results.csv, the run files and the report as a hub data set repo (needs a token)")  # fmt: skip
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "deciding",
        help="the configurations that decide a folder's ranking, as bench options: repeat just these",
        description="Prints one line per contender's best configuration, e.g.\n"
        "  lora-harness deciding results/seed-study | while read -r a; do\n"
        "    lora-harness bench --spec benchmarks/seed-study.yaml $a --repeats 3; done",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results_dir")
    p.add_argument("--top", type=int, default=3, help="at most this many configurations (default 3)")
    p.set_defaults(func=cmd_deciding)

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
    memory_cli.add_parser(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        for line in getattr(e, "lines", None) or [str(e)]:  # one line per problem (PreflightError: per model)
            print(f"error: {line}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume (finished runs are kept)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
