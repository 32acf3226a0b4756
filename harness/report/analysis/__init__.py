"""What the report computes from the result files, apart from how it is laid out.

    analysis = analyse(rs, prices, job=None, quality_weights=None)

Modules: timing (one-time cost and steady steps of a run), job (the team's job and its projection),
quality (composites at report time), memory (user-work peaks and "fits on"), cells (repeats pooled,
bootstrap draws), decision (the ranking, ties, confidence, the answer), backends (each backend against
plain hf), bandwidth (the generation floor). Nothing here lays out a table or writes a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.report.analysis.build import Analysis, analyse

__all__ = ["Analysis", "analyse"]


def __getattr__(name: str) -> Any:  # timing alone stays light: the end-of-sweep table imports it
    if name in __all__:
        from harness.report.analysis import build

        return getattr(build, name)
    raise AttributeError(name)
