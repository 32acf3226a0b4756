"""The `lora-harness` argument parser: every command, its flags and help, and the version it reports."""

from __future__ import annotations

import argparse

from harness import backends
from harness.backends import NAMES as BACKEND_NAMES
from harness.backends import PLAIN, QUANTS
from harness.cli.info import cmd_list, cmd_selfbench
from harness.cli.results import cmd_deciding, cmd_grades, cmd_report
from harness.cli.runs import cmd_bench, cmd_run, cmd_sweep
from harness.cli.sweeping import RESULTS_ROOT
from harness.memory import cli as memory_cli
from harness.setting_axes import add_setting_axes

USAGE = """Command line: `lora-harness` (installed) or `python -m harness` (a source tree).

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


def version() -> str:
    from importlib import metadata

    from harness.versions import __version__

    try:
        return metadata.version("lora-harness")
    except metadata.PackageNotFoundError:
        return __version__


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
    backends.add_flags(p)  # each backend's own options, from the registry
    p.add_argument(
        "--emulate", nargs="+", metavar="GPU",
        help="measure as if on a smaller GPU of the price file's fits table (e.g. T4 M6000): its memory caps the"
        " allocator, its compute capability sets the dtype and what cannot run; time stays this GPU's",
    )  # fmt: skip
    p.add_argument("--timeout", type=int, help="seconds per run (default: the spec's)")
    p.add_argument(
        "--time-budget", type=float, metavar="SECONDS",
        help="start no run that is not expected to end within SECONDS of the command's start (expected: the longest"
        " finished run of its model and backend here); the rest wait for a resume",
    )  # fmt: skip
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
    ap = argparse.ArgumentParser(prog="lora-harness", description=USAGE, formatter_class=argparse.RawTextHelpFormatter)
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
    p.add_argument(
        "--cells", metavar="FILE",
        help="with --spec: the configurations in FILE, one per line as `lora-harness deciding` prints them, in one"
        " sweep; with --repeats their runs interleave round by round (A B C A B C ...)",
    )  # fmt: skip
    _add_run_options(p)
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("sweep", help="run a sweep spec (resumes: finished runs are kept)")
    p.add_argument("spec")
    _add_run_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("run", help="one run, in its own process")
    p.add_argument("--model", required=True, help="a candidate name, hub id (org/name) or model folder")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--backend", choices=BACKEND_NAMES, default=PLAIN)
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
        description="Prints one line per configuration that may decide it: each contender's best, and any other\n"
        "first among its model's in at least 10% of the resamples (one run's interval holds no run-to-run\n"
        "spread, so a runner-up that close may lead once repeated); repeat them interleaved with\n"
        "  lora-harness deciding results/seed-study > deciding.txt\n"
        "  lora-harness bench --spec benchmarks/seed-study.yaml --cells deciding.txt --repeats 3",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results_dir")
    p.add_argument("--top", type=int, default=3, help="at most this many models, the best first (default 3)")
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
