"""Does this torch build carry kernels for a GPU: its compute capability against `torch.cuda.get_arch_list()`.

No torch import: the caller passes the arch list (the run child reads it; tests pass their own).

A build runs a GPU of capability X.Y when it has machine code (`sm_XZ`) for the same major version and a minor
version at most Y (sm_50 code runs on a 5.2 Quadro M6000), or PTX (`compute_XZ`) of at most X.Y, which the
driver compiles at start. torch 2.8 and later publish Maxwell (5.x) and Pascal (6.x) kernels only in their
CUDA 12.6 wheels (PyTorch's release matrix; 2.15 plans to drop those too); the CUDA 12.8 and 13.0 builds
start at Turing (7.5) or Volta (7.0).
"""

from __future__ import annotations

import re

from harness.dtypes import cc_text

LEGACY_INDEX = "https://download.pytorch.org/whl/cu126"  # the only PyTorch wheels with Maxwell and Pascal kernels
_ARCH = re.compile(r"^(sm|compute)_(\d+)([a-z]?)$")


def _parse(arch: str) -> tuple[str, int, int] | None:
    m = _ARCH.match(arch.strip())
    if not m or m.group(3):  # sm_90a / sm_100f: family-specific code, runs on that family only
        return None
    n = int(m.group(2))
    return m.group(1), n // 10, n % 10


def build_runs_on(cc: tuple[int, int], arch_list: list[str]) -> bool:
    """True when the build has SASS for cc's major version at a minor <= cc's, or PTX at or below cc."""
    for arch in arch_list:
        parsed = _parse(arch)
        if parsed is None:
            continue
        kind, major, minor = parsed
        if kind == "sm" and major == cc[0] and minor <= cc[1]:
            return True
        if kind == "compute" and (major, minor) <= tuple(cc):
            return True
    return False


def arch_problem(
    cc: tuple[int, int], arch_list: list[str], torch_version: str, gpu_name: str = "this GPU"
) -> str | None:
    """One line naming the fix when this torch build has no kernels for `cc`; None when it has, or when the
    list is empty (a CPU-only build says nothing about GPUs: the caller checks for CUDA apart)."""
    if not arch_list or build_runs_on(cc, arch_list):
        return None
    base = torch_version.split("+")[0]
    fix = (
        f"install a CUDA 12.6 build, the only PyTorch wheels with Maxwell/Pascal kernels: "
        f"pip install torch=={base} --index-url {LEGACY_INDEX}"
        if cc < (7, 0)
        else f"install a torch build whose arch list covers sm_{cc[0]}{cc[1]} (see PyTorch's CUDA support matrix)"
    )
    return (
        f"torch {torch_version} has no kernels for {gpu_name} (compute capability {cc_text(cc)}; its build "
        f"carries {' '.join(arch_list)}): {fix}"
    )
