"""A fake run child (a test hook, inert unless HARNESS_TEST_HOOKS=1 and a `fake` directive in HARNESS_FAULTS
matches the run's label): phase lines, fault points, sleeps and a minimal result, as the real child writes them,
without a model. The real child hands a run here before anything else; see harness/faults.py for the directives."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from harness.config import RunRequest
from harness.faults import FAULTS_VAR, HOOKS_VAR, InjectedOOM, enabled, fake_directive, fired, hit
from harness.result import PhaseStats, RunResult

FAKE_PHASES = ("load", "generate_base", "eval_base", "train", "generate_tuned", "eval_tuned", "score")


def fake_run(request_path: Path | str, result_path: Path | str, key: str) -> bool:
    """Handle the run without a model when HARNESS_TEST_HOOKS=1 and a `fake` directive matches.

    Returns False (and does nothing) otherwise. Never imports torch.
    """
    if not enabled() or FAULTS_VAR not in os.environ or "fake" not in os.environ[FAULTS_VAR]:
        return False
    t0 = time.monotonic()
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    request = RunRequest.model_validate(json.loads(Path(request_path).read_text(encoding="utf-8")))
    label = request.label
    d = fake_directive(label)
    if d is None:
        return False
    duration = float(d.arg or 0.0)
    steps = min(request.train.max_steps or 3, 5)
    slices = steps + len(FAKE_PHASES)
    result = RunResult(
        key=key, label=label, status="failed", reason="did not finish", request=request, started_at=started,
        quality={"meaningful": False}, partial=True,
    )  # fmt: skip

    @contextmanager
    def phase(name: str, point: str | None = None) -> Iterator[None]:
        """Announce, pass the fault point, sleep a slice; record its wall time and write the partial result,
        as the real child does after every phase."""
        print(f"HARNESS_PHASE {name}", flush=True)
        p0 = time.monotonic()
        try:
            if point:
                hit(point, label)
            time.sleep(duration / slices)
            yield
        finally:
            result.phases[name] = PhaseStats(wall_s=round(time.monotonic() - p0, 4))
            result.wall_s = round(time.monotonic() - t0, 4)
            result.injected = fired()
            result.write(Path(result_path))

    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    print(
        f"HARNESS_FAKE pid {os.getpid()} cwd {os.getcwd()} CUDA_VISIBLE_DEVICES={cvd} t0 {time.time():.3f}", flush=True
    )
    status, reason = "ok", "fake run (test hook)"
    try:
        hit("start", label)
        with phase("load", "load"):
            pass
        with phase("generate_base", "generate"):
            pass
        with phase("eval_base"):
            pass
        with phase("train"):
            for n in range(1, steps + 1):
                hit(f"step:{n}", label)
                print(f"fake step {n}/{steps}", flush=True)
                time.sleep(duration / slices)
        with phase("generate_tuned", "generate"):
            pass
        with phase("eval_tuned"):
            pass
        with phase("score"):
            pass
        hit("write", label)
    except InjectedOOM as e:
        status, reason = "oom", str(e)
        print(f"InjectedOOM: {e}", flush=True)
    result.status, result.reason, result.partial = status, reason, False  # type: ignore[assignment]
    result.finished_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result.wall_s = round(time.monotonic() - t0, 4)
    result.injected = fired()
    result.write(Path(result_path))
    print(f"HARNESS_FAKE done t1 {time.time():.3f}", flush=True)
    return True


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.child.fake --request R --result O --key K`: a fake child for the scheduler's tests."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m harness.child.fake", description=main.__doc__)
    p.add_argument("--request", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--key", required=True)
    a = p.parse_args(argv)
    if fake_run(a.request, a.result, a.key):
        return 0
    print(f"harness.child.fake runs fake runs only: set {HOOKS_VAR}=1 and {FAULTS_VAR}=fake[:seconds]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
