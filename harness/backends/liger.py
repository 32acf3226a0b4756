"""`liger`: the plain backend with Liger kernels swapped in by trl (`use_liger_kernel=True`).

Its fused linear cross-entropy never holds the vocabulary-sized logits, which is where most of
its memory saving comes from. The kernels are Triton: CUDA and compute capability 7.0 or newer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.backends.hf import HF

if TYPE_CHECKING:
    from harness.config import RunRequest


class Liger(HF):
    name = "liger"
    description = "plain transformers + peft + trl, with Liger's Triton kernels"
    packages: ClassVar[tuple[str, ...]] = ("liger-kernel", "triton")
    modules: ClassVar[tuple[str, ...]] = ("liger_kernel", "triton")
    site_packages: ClassVar[tuple[str, ...]] = ("liger-kernel==0.8.5",)  # 0.9 MB, pure Python; triton is there
    needs_gpu: ClassVar[bool] = True
    min_compute_capability: ClassVar[tuple[int, int] | None] = (7, 0)  # Triton; the team's Quadro M6000 is 5.2
    never_preload: ClassVar[tuple[str, ...]] = ("liger_kernel",)
    shown_packages: ClassVar[tuple[str, ...]] = ("liger_kernel",)
    trainer_switches: ClassVar[tuple[str, ...]] = ("use_liger_kernel",)
    title: ClassVar[str] = "Liger"
    memory_calibrated: ClassVar[bool] = False
    holds_logits: ClassVar[bool] = False  # its fused linear cross-entropy never holds the logits
    # Its nf4 path is the plain one (prepare_model_for_kbit_training), but the memory model has always predicted
    # it without that fp32 cast (no nf4 Liger run measured); kept so that its predictions do not move.
    kbit_casts_fp32: ClassVar[bool] = False

    def trainer_args(self, request: RunRequest) -> dict[str, Any]:
        return {"use_liger_kernel": True}
