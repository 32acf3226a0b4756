"""Compile caches shared by the runs of one sweep, so that only the first run pays a cold compile.

torch.compile (Inductor), Triton's kernels (the Triton backends', bitsandbytes' autotuning) and a backend's
own generated modules (`Backend.compile_caches`) each keep a cache on disk. The sweep points them at `<sweep>/cache/` unless the user
set them already; each run records whether a cache was cold (absent or empty) or warm when it started,
and the time its first steps spent compiling stays in its one-time costs (the burn-in steps).

Floor 1 (beside the backends, whose caches it names): the sweep and the run child both use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from harness.backends import COMPILE_CACHES

# name -> the variable naming its folder: torch's own, then each backend's (from the registry)
CACHE_VARS = {
    "inductor": "TORCHINDUCTOR_CACHE_DIR",
    "triton": "TRITON_CACHE_DIR",
    **COMPILE_CACHES,
}


def shared_cache_env(root: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The cache variables a run child gets: the user's own where set, else folders under `root`."""
    environ = dict(os.environ) if environ is None else environ
    return {var: environ.get(var) or str(root / name) for name, var in CACHE_VARS.items()}


def cache_states(environ: dict[str, str] | None = None) -> dict[str, str]:
    """For each cache variable that is set: "warm" when its folder holds files, else "cold"."""
    environ = dict(os.environ) if environ is None else environ
    out = {}
    for name, var in CACHE_VARS.items():
        if environ.get(var):
            folder = Path(environ[var])
            out[name] = "warm" if folder.is_dir() and any(folder.iterdir()) else "cold"
    return out
