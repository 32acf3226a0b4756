"""LoRA fine-tuning model-selection harness.

make bench                                  # embedded default (SmolLM2-135M) on this machine
make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS="16 32 64"
python -m harness --help

From Python (a notebook): `results = harness.bench(model=..., data=..., ranks=[16, 32])`, then `results.df`,
`results.answer`, or `results` itself to show the report inline; `harness.report(folder)` rebuilds a report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Bumped whenever a change moves measured figures (part of every run key, so old results are not mixed in).
# 2: the memory/power sampler runs in its own process (a thread took the GIL from launch-bound work).
# 3: burn-in at the timed batch, latency as its own stage, energy from NVML's counter, shape mode without the
#    scoring passes, shape-build memory released before the load phase, runs forked from a fork server.
# 4: the latency stage burns in once (its longest prompt), not once per prompt.
MEASUREMENT_VERSION = "4"

if TYPE_CHECKING:
    from harness import report  # the package, callable: harness.report(folder) (harness/report/__init__.py)
    from harness.api import Results, bench

__all__ = ["MEASUREMENT_VERSION", "Results", "__version__", "bench", "report"]


def __getattr__(name: str) -> Any:  # loaded on first use: `import harness` stays light (no pandas, no torch)
    if name in ("bench", "Results"):
        from harness import api

        return getattr(api, name)
    if name == "report":
        import harness.report  # binds the name to the package, which is callable

        return harness.report
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
