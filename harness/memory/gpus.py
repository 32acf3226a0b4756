"""The GPUs the team can train on, what they support, and what CUDA itself takes on each.

Memory is what `nvidia-smi` reports as total (ECC on where the card has it); the prediction that
is checked against it is the NVML per-process peak, which includes the CUDA context.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.dtypes import BF16_NATIVE_CC, train_dtype
from harness.errors import UserError

MIB = 2**20
BF16_MIN_CC = BF16_NATIVE_CC  # bf16 tensor cores: Ampere or newer


@dataclass(frozen=True)
class GPU:
    key: str  # what --gpu takes
    name: str  # as NVML / torch name it
    memory_mib: float
    compute_capability: tuple[int, int]
    dtypes: tuple[str, ...]  # what training runs in here; the first is harness.dtypes' rule for dtype auto
    memory_source: str
    note: str = ""

    @property
    def cc(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def cublas_workspace_bytes(self) -> int:
        """One cuBLAS workspace, taken from torch's caching allocator (so it shows in memory_allocated).

        torch's default (aten/src/ATen/cuda/CublasHandlePool.cpp): 4096 KiB x 2 + 16 KiB x 8 = 8.125 MiB,
        32 MiB on compute capability 9.x and newer. There is one per thread and stream: training runs
        the forward in the main thread and the backward in autograd's thread, so a run holds two.
        """
        return 4096 * 8 * 1024 if self.compute_capability[0] >= 9 else 4096 * 1024 * 2 + 16 * 1024 * 8

    def supports(self, dtype: str) -> bool:
        return dtype != "bf16" or self.compute_capability >= BF16_MIN_CC

    @property
    def auto_dtype(self) -> str:
        """What dtype auto trains in here (harness.dtypes)."""
        return train_dtype("auto", self.compute_capability)


GPUS: dict[str, GPU] = {
    "M6000": GPU(
        key="M6000",
        name="Quadro M6000",
        memory_mib=12288,
        compute_capability=(5, 2),
        dtypes=("fp16", "fp32"),  # the team's own M6000 fine-tune was 16-bit; fp32 when asked
        memory_source="12 GB GDDR5 (NVIDIA spec sheet); not measured here",
        note="Maxwell: no bf16, no fast fp16 math (fp16 halves memory, not time); check that the installed "
        "torch build still lists sm_52 in torch.cuda.get_arch_list()",
    ),
    "T4": GPU(
        key="T4",
        name="Tesla T4",
        memory_mib=15360,
        compute_capability=(7, 5),
        dtypes=("fp16",),
        memory_source="15,360 MiB as nvidia-smi reports it on Colab (16 GB, ECC on); not measured here",
        note="Turing: fp16 tensor cores, bf16 not supported in hardware",
    ),
    "H100": GPU(
        key="H100",
        name="NVIDIA H100 80GB HBM3",
        memory_mib=81079,
        compute_capability=(9, 0),
        dtypes=("bf16",),
        memory_source="81,079 MiB, NVML total recorded by the published H100 runs",
    ),
    "H200": GPU(
        key="H200",
        name="NVIDIA H200",
        memory_mib=143771,
        compute_capability=(9, 0),
        dtypes=("bf16",),
        memory_source="143,771 MiB, nvidia-smi total on the workplace's H200 (runs record torch's 143,156)",
    ),
}
TEAM_GPUS: tuple[str, ...] = ("M6000", "T4", "H100")  # the team's two, and the GPU the model was calibrated on


def gpu(name: str) -> GPU:
    """A GPU by key (M6000, T4, H100, any case) or by its full name (e.g. 'Tesla T4')."""
    want = name.strip().lower()
    for g in GPUS.values():
        if want in (g.key.lower(), g.name.lower()) or (len(want) >= 2 and want in g.name.lower()):
            return g
    raise UserError(f"--gpu '{name}': unknown GPU; give one of {', '.join(GPUS)}")


def gpu_for_name(nvml_name: str | None) -> GPU | None:
    """The table's GPU for a name recorded by a run (NVML's name), or None when it is not one of ours."""
    if not nvml_name:
        return None
    for g in GPUS.values():
        if g.name.lower() == nvml_name.lower():
            return g
    return None
