"""LoRA fine-tuning model-selection harness.

make bench                                  # embedded default (SmolLM2-135M) on this machine
make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS="16 32 64"
python -m harness --help

From Python (a notebook): `results = harness.bench(model=..., data=..., ranks=[16, 32])`, then `results.df`,
`results.answer`, or `results` itself to show the report inline; `harness.report(folder)` rebuilds a report.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from harness import report  # the report package (light until a report is built), made callable below
from harness.versions import MEASUREMENT_VERSION, __version__  # the versions live on the bottom floor

if TYPE_CHECKING:
    from harness.api import Results, bench

__all__ = ["MEASUREMENT_VERSION", "Results", "__version__", "bench", "report"]


class _CallableReport(types.ModuleType):
    """`harness.report(folder)` is the API's report call (harness/api.py), and `harness.report` is also the
    report package: once a submodule is imported Python binds the package to that name, so the package itself
    is made callable and both stay true. Done here, on the top floor, so that the report never imports the API."""

    def __call__(self, folder: Any, **kw: Any) -> Results:
        from harness.api import report as api_report

        return api_report(folder, **kw)


report.__class__ = _CallableReport


def __getattr__(name: str) -> Any:  # loaded on first use: `import harness` stays light (no pandas, no torch)
    if name in ("bench", "Results"):
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
