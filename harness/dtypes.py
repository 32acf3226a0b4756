"""Which dtype a GPU trains in: the one rule, used by the run child, the memory model and every fits verdict.

No torch import: the sweep's parent, the report and `lora-harness fits` apply the rule too.

    auto  -> bf16 where it is native (compute capability 8.0 and up: Ampere, Ada, Hopper), else fp16;
             fp32 on the CPU (bf16 matmuls there are slow)
    bf16  -> only where native: torch 2.11-2.13's `torch.cuda.is_bf16_supported()` says True on any GPU
             that can hold a bf16 tensor (`including_emulation=True`), so a T4 or an M6000 would train in
             emulated bf16, without tensor cores, which neither the team's notebooks nor any backend would do
    fp16  -> anywhere on a GPU, with a loss scaler (the trainer's GradScaler); Maxwell (5.x) has no fast
             fp16 math: it halves memory there, not time
    fp32  -> anywhere
"""

from __future__ import annotations

BF16_NATIVE_CC = (8, 0)  # bf16 tensor cores: Ampere or newer
DTYPE_CHOICES = ("auto", "bf16", "fp16", "fp32")


def cc_text(cc: tuple[int, int]) -> str:
    return f"{cc[0]}.{cc[1]}"


def train_dtype(requested: str, cc: tuple[int, int] | None, device: str = "cuda") -> str:
    """The dtype a run trains in: the user's when given, else the rule above for a GPU of capability `cc`
    (None: no GPU, the CPU)."""
    if requested != "auto":
        return requested
    if device == "cpu" or cc is None:
        return "fp32"
    return "bf16" if tuple(cc) >= BF16_NATIVE_CC else "fp16"


def dtype_problem(dtype: str, cc: tuple[int, int] | None, gpu_name: str = "this GPU") -> str | None:
    """Why `dtype` is not run on a GPU of capability `cc` (one line), or None. Emulated bf16 is refused: it is
    not what anyone trains in on such a GPU, and its time and memory would describe nothing real."""
    if dtype == "bf16" and cc is not None and tuple(cc) < BF16_NATIVE_CC:
        return (
            f"bf16 is not native on {gpu_name} (compute capability {cc_text(cc)}; bf16 needs 8.0): it would run "
            "emulated, without tensor cores; train in fp16 (or dtype auto, which picks it) or fp32"
        )
    return None
