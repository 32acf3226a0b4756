"""Capability checks before a run starts: each failure is an `unsupported` reason, not a crash.

No torch import here: the sweep parent may call `check` too (it asks NVML for the GPU).
"""

from __future__ import annotations

import importlib.util

from harness.config import RunRequest

UNSLOTH_MIN_CC = (7, 0)  # Unsloth's Triton kernels need Volta or newer; the team's Quadro M6000 is 5.2
BNB_OPTIMIZERS = ("8bit", "paged")


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def gpu_capability(gpu_index: int = 0) -> tuple[str, tuple[int, int]] | None:
    """(name, compute capability) of a GPU through NVML, or None when there is no usable GPU."""
    from harness.monitor import nvml_index
    from harness.sweep.gpu import compute_capability, gpu_info

    index = nvml_index(gpu_index)
    info, cc = gpu_info(index), compute_capability(index)
    return (info["name"], cc) if info is not None and cc is not None else None


def check(request: RunRequest, gpu: tuple[str, tuple[int, int]] | None) -> str | None:
    """Why `request` cannot run on this machine (one line), or None when it can."""
    needs_gpu = request.backend == "unsloth" or request.quant == "nf4"
    if request.device == "cuda" and gpu is None:
        return "device cuda requested but no CUDA GPU is visible"
    if needs_gpu and (gpu is None or request.device == "cpu"):
        what = "unsloth" if request.backend == "unsloth" else "nf4 (bitsandbytes 4-bit)"
        return f"{what} needs a CUDA GPU; none is visible on this machine"
    if request.backend == "unsloth":
        assert gpu is not None
        name, cc = gpu
        if cc < UNSLOTH_MIN_CC:
            return (
                f"unsloth needs compute capability >= {UNSLOTH_MIN_CC[0]}.{UNSLOTH_MIN_CC[1]}; "
                f"{name} has {cc[0]}.{cc[1]}"
            )
        if not installed("unsloth"):
            return "unsloth is not installed: pip install 'lora-harness[gpu]' (or carry the .site bundle)"
    if (request.quant == "nf4" or any(k in request.train.optimizer for k in BNB_OPTIMIZERS)) and not installed(
        "bitsandbytes"
    ):
        return f"bitsandbytes is not installed (needed by quant={request.quant}, optimizer={request.train.optimizer})"
    if any(k in request.train.optimizer for k in BNB_OPTIMIZERS) and gpu is None:
        return f"optimizer {request.train.optimizer} (bitsandbytes) needs a CUDA GPU"
    if request.train.gradient_checkpointing == "unsloth" and request.backend != "unsloth":
        return "gradient_checkpointing: unsloth is Unsloth's own offloading mode; use true/false with backend hf"
    if request.candidate.family == "rwkv" and request.quant == "nf4":
        return None  # tried: bitsandbytes quantises its Linear layers; recorded as it goes
    return None
