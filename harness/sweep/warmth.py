"""Has this GPU paid its first-run costs since the machine booted? Then a sweep needs no warm-up run.

The warm-up run (runner.warmup_run) is there for what the first CUDA work after a boot pays once per
machine: driver and context start-up, files read from disk the first time. Per-process costs (each run's
first steps and first generate()) it cannot take away: every run is its own process. So a second sweep on
the same machine, e.g. the repeats of a study's deciding configurations right after the study, skips it.

A marker file per (boot, GPU) in the harness cache records that a run on that GPU ended ok; the boot id
(`/proc/sys/kernel/random/boot_id`) changes with every boot, so a rebooted or fresh machine warms up again.
Where there is no boot id (not Linux), the warm-up always runs.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.weights import cache_root

BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")


def boot_id() -> str | None:
    try:
        return BOOT_ID_FILE.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _marker(gpu: str) -> Path | None:
    boot = boot_id()
    if boot is None:
        return None
    tag = hashlib.sha256(gpu.encode()).hexdigest()[:16]
    return cache_root() / "warm" / f"{boot}-{tag}"


def is_warm(gpu: str) -> bool:
    """True when a run on this GPU ended ok since the machine booted."""
    m = _marker(gpu)
    return m is not None and m.exists()


def mark_warm(gpu: str) -> None:
    m = _marker(gpu)
    if m is None:
        return
    m.parent.mkdir(parents=True, exist_ok=True)
    m.write_text(gpu + "\n", encoding="utf-8")
