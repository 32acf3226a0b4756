"""How a run child's failure reads: out of memory or not, and the one-line reason a result stores.

Child side, no torch import: the run child (`run.py`) classifies what it caught with these, and frees
memory between phases with `release_memory`.
"""

from __future__ import annotations

import gc
import traceback
from contextlib import suppress
from pathlib import Path
from typing import Any


def is_oom(e: BaseException) -> bool:
    name = type(e).__name__
    return name in ("OutOfMemoryError", "InjectedOOM") or "out of memory" in str(e).lower()


def release_memory(torch: Any, device: str) -> None:
    """Give back what finished work left behind: the allocator's cached GPU blocks, and freed host heap
    (glibc keeps it resident otherwise), so the next phase's peaks are its own."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    with suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def oom_reason(run: Any, e: BaseException) -> str:
    """One line for an out-of-memory end: the phase, the peaks the monitor saw, the error's first line."""
    peaks = run.monitor.current_peak_mib() if run.monitor is not None else {}
    reached = ", ".join(f"{k.removesuffix('_mib')} {v:,.0f} MiB" for k, v in peaks.items() if v is not None)
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return (
        f"out of memory in phase {run.phase_name}"
        + (f" (peak reached: {reached})" if reached else "")
        + f": {first[:300]}"
    )


def failure_reason(e: BaseException, phase: str | None) -> str:
    """One line: the error's type, the phase, its first message line, and where it was raised when the
    message says nothing (torch's InductorError wraps a bare `assert`: "AssertionError: " alone)."""
    first = (str(e).strip().splitlines() or [""])[0][:300]
    reason = f"{type(e).__name__} in phase {phase}: {first}"
    if not first or first.endswith(":"):  # nothing said beyond a type name
        frames = traceback.extract_tb(e.__traceback__)
        if frames:
            f = frames[-1]
            where = "/".join(Path(f.filename).parts[-3:])
            reason = f"{reason.rstrip(': ')} (raised at {where}:{f.lineno} in {f.name})"
    return reason
