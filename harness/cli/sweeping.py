"""What `bench`, `sweep` and `run` share once the spec is built: the preflight, the sweep, the report, the exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import flags
from harness.cli.cells import CellFilter
from harness.config import SweepSpec
from harness.errors import UserError

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


def _preflight(
    spec: SweepSpec, source: str, args: argparse.Namespace | None = None, cells: CellFilter | None = None
) -> list[Any]:
    """The one preflight (harness.preflight) with what the command line gives it: the flags as typed, the
    team's --candidates FILE, --trust-remote-code, --cells FILE (only the runs its lines name). Nothing is
    written before it passes."""
    from harness.preflight import preflight

    args = args or argparse.Namespace()
    requests = preflight(
        spec,
        source,
        typed=flags.typed(args),
        candidates=getattr(args, "candidates", None),
        trust_remote_code=bool(getattr(args, "trust_remote_code", False)),
        keep=cells,
    )
    if cells is not None:
        cells.check()  # every line named a run
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


def _sweep(
    spec: SweepSpec, source: str, args: argparse.Namespace, *, add: bool = False, cells: CellFilter | None = None
) -> int:
    from harness.report import build_report
    from harness.sweep import SweepOptions, run_sweep

    gpus = _gpus(getattr(args, "gpus", None))  # before the preflight fetches anything
    timeout = getattr(args, "timeout", None)
    if timeout is not None and timeout <= 0:
        raise UserError(f"--timeout {timeout}: give the seconds a run may take, more than 0 (e.g. --timeout 900)")
    requests = _preflight(spec, source, args, cells)
    results_dir = Path(args.results_root) / spec.name
    command = getattr(args, "command", None) or invocation()  # harness.bench records its own call
    options = SweepOptions.from_args(args, results_dir, gpus=gpus, command=command, add=add)
    outcome = run_sweep(spec, requests, options)
    files = build_report(results_dir)  # the sweep printed its one table; the report adds the answer
    print(files.answer)
    print(f"report: {files.html}")
    code = _exit_code(outcome.results)
    _made(args, files, outcome, code)
    if code:
        print("exit 1: a run did not end ok (see its status above; results and report are written)", file=sys.stderr)
    return code
