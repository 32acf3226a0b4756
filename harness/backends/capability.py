"""Capability checks before a run starts: each failure is an `unsupported` reason, not a crash.

No torch import here: the sweep parent may call `check` too (it asks NVML for the GPU). The
checks every run shares live here; what a backend needs (GPU, compute capability, packages)
is its own `Backend.check`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.backends import get
from harness.backends.base import BNB_OPTIMIZERS, GpuInfo, bnb_capability_problem, bnb_version, installed
from harness.dtypes import dtype_problem, train_dtype

if TYPE_CHECKING:
    from harness.config import RunRequest


def gpu_capability(gpu_index: int = 0) -> GpuInfo | None:
    """(name, compute capability) of a GPU through NVML, or None when there is no usable GPU."""
    from harness.nvml import compute_capability, gpu_info, nvml_index

    index = nvml_index(gpu_index)
    info, cc = gpu_info(index), compute_capability(index)
    return (info["name"], cc) if info is not None and cc is not None else None


def check(request: RunRequest, gpu: GpuInfo | None) -> str | None:
    """Why `request` cannot run on this machine (one line), or None when it can. An emulated run is checked
    against the emulated GPU: what that GPU lacks (native bf16, Triton below 7.0, bitsandbytes' kernels) is
    `unsupported` there even though the GPU at hand has it."""
    if request.device == "cuda" and gpu is None:
        return "device cuda requested but no CUDA GPU is visible"
    emu = request.emulate
    if emu is not None:
        if gpu is None or request.device == "cpu":
            return f"emulating {emu.name} needs a CUDA GPU with at least {emu.memory_mib:,.0f} MiB; none is visible"
        gpu = (emu.name, tuple(emu.compute_capability))  # type: ignore[assignment]
    if gpu is not None and request.device != "cpu":
        name, cc = gpu
        problem = dtype_problem(train_dtype(request.train.dtype, cc), cc, name)
        if problem:
            return problem
    reason = get(request.backend).check(request, gpu)
    if reason:
        return reason
    bnb_optimizer = any(k in request.train.optimizer for k in BNB_OPTIMIZERS)
    if request.quant == "nf4" and (gpu is None or request.device == "cpu"):
        return "nf4 (bitsandbytes 4-bit) needs a CUDA GPU; none is visible on this machine"
    if (request.quant == "nf4" or bnb_optimizer) and not installed("bitsandbytes"):
        return f"bitsandbytes is not installed (needed by quant={request.quant}, optimizer={request.train.optimizer})"
    if bnb_optimizer and gpu is None:
        return f"optimizer {request.train.optimizer} (bitsandbytes) needs a CUDA GPU"
    if (request.quant == "nf4" or bnb_optimizer) and gpu is not None:
        what = "quant=nf4" if request.quant == "nf4" else f"optimizer {request.train.optimizer}"
        return bnb_capability_problem(what, gpu, bnb_version())
    return None
