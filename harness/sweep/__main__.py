"""A small test entry (the real CLI is `harness sweep`):

    python -m harness.sweep PLAN.json RESULTS_DIR [--retry-failed] [--rerun] [--timeout S]
                            [--child-module M] [--gpus 0 1] [--executor local|ray] [--ray-address A]
                            [--kill-grace S] [--progress auto|rich|plain|quiet]

PLAN.json: {"spec": <SweepSpec fields>, "candidates": [<Candidate fields>, ...]}; the
runs are expand_sweep(spec, candidates). Exit codes: 0 done (whatever the statuses),
2 user error, 130 interrupted (resume by running the same command again).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from harness.errors import EXIT_USER_ERROR, UserError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.sweep", description=__doc__.splitlines()[0])
    p.add_argument("plan", type=Path)
    p.add_argument("results_dir", type=Path)
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--rerun", action="store_true")
    p.add_argument("--timeout", type=int, default=None)
    p.add_argument("--child-module", default="harness.child.run")
    p.add_argument("--gpus", type=int, nargs="+", default=None)
    p.add_argument("--executor", default="local")
    p.add_argument("--ray-address", default=None)
    p.add_argument("--kill-grace", type=float, default=10.0)
    p.add_argument("--progress", default="auto")
    a = p.parse_args(argv)
    # A test entry: Ctrl-C must work even when started from a shell that ignores SIGINT in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from harness.config import CandidateFile, SweepSpec, expand_sweep
    from harness.sweep import SweepOptions, run_sweep

    try:
        raw = json.loads(a.plan.read_text(encoding="utf-8"))
        spec = SweepSpec.model_validate(raw["spec"])
        requests = expand_sweep(spec, CandidateFile.model_validate({"candidates": raw["candidates"]}), str(a.plan))
        command = [sys.executable, "-m", "harness.sweep", *(argv if argv is not None else sys.argv[1:])]
        outcome = run_sweep(spec, requests, SweepOptions.from_args(a, a.results_dir, command=command))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(json.dumps(outcome.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
