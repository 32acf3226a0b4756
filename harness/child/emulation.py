"""Measure a smaller GPU on a bigger one, in the run child: cap torch's caching allocator at what that GPU
would leave it (its memory less the CUDA context), so that an out-of-memory there is an out-of-memory here.

What carries over: memory (the allocator's peak, and an `oom` where that GPU would run out). What does not:
time (the measuring GPU's own), kernels (its Triton, cuDNN and cuBLAS choices; cuBLAS takes 32 MiB workspaces
on Hopper, 8 MiB before), and whether the team's torch build has kernels for that GPU (recorded as a note).
The dtype and the capability checks follow the emulated GPU (harness.dtypes, harness.backends.capability).
"""

from __future__ import annotations

from typing import Any

from harness.config import RunRequest
from harness.dtypes import cc_text
from harness.errors import UserError
from harness.result import Emulation
from harness.torch_arch import arch_problem

MIB = 2**20


def context_estimate(gpu_name: str) -> tuple[float, str]:
    """The memory model's CUDA context for that GPU (NVML process - torch reserved in training): measured
    there when it was, else the mean over the GPUs it was measured on, and said so."""
    from harness.memory.coefficients import load_coefficients

    mib, measured = load_coefficients().context_for(gpu_name, "train")
    source = (
        "measured on it (memory model)"
        if measured
        else ("not measured on it: the memory model's figure for the GPUs it was measured on (its coefficients)")
    )
    return mib, source


def apply(request: RunRequest, torch: Any, device_index: int = 0) -> Emulation | None:
    """Cap the allocator for `request.emulate` (None: nothing to do). Raises UserError when this GPU is too
    small to stand in for the emulated one."""
    emu = request.emulate
    if emu is None:
        return None
    total_mib = torch.cuda.get_device_properties(device_index).total_memory / MIB
    context_mib, source = context_estimate(emu.name)
    cap_mib = emu.memory_mib - context_mib
    if cap_mib <= 0 or cap_mib > total_mib:
        raise UserError(
            f"cannot emulate {emu.name} ({emu.memory_mib:,.0f} MiB) here: this GPU has {total_mib:,.0f} MiB; "
            "emulate a GPU smaller than the one at hand"
        )
    fraction = cap_mib / total_mib
    torch.cuda.set_per_process_memory_fraction(fraction, device_index)
    cc = tuple(emu.compute_capability)
    notes = [f"time is this GPU's ({torch.cuda.get_device_name(device_index)}), not the {emu.name}'s"]
    arch = arch_problem(cc, list(torch.cuda.get_arch_list()), torch.__version__, emu.name)  # type: ignore[arg-type]
    if arch:  # the measurement stands for a build that has them; the team's build must, or nothing runs there
        notes.append(arch)
    return Emulation(
        gpu=emu.name,
        memory_mib=emu.memory_mib,
        compute_capability=cc_text(cc),  # type: ignore[arg-type]
        context_mib=context_mib,
        context_source=source,
        cap_mib=cap_mib,
        device_total_mib=total_mib,
        fraction=fraction,
        notes=notes,
    )


def gpu_support(request: RunRequest, torch: Any) -> tuple[str | None, Emulation | None]:
    """Before anything else touches the GPU: does this torch build carry kernels for it (else the first kernel
    fails), and, when emulating, cap the allocator at the emulated GPU's memory. (reason it cannot run, cap)."""
    cc = tuple(torch.cuda.get_device_capability())
    reason = arch_problem(cc, list(torch.cuda.get_arch_list()), torch.__version__, torch.cuda.get_device_name())
    if reason:
        return reason, None
    try:
        return None, apply(request, torch)
    except UserError as e:
        return str(e), None
