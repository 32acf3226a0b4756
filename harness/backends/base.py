"""The backend protocol: what a run needs from a way of loading, adapting and training a model.

A backend is one module in this folder with one subclass of `Backend`, plus one line in
`harness/backends/__init__.py`. Nothing else in the harness names a backend: the config's
choices, the CLI's choices, the capability checks, the packages recorded in each result and
hashed into its run key all come from the registry.

Modules here must not import torch at import time: the sweep parent reads the registry
(choices, checks, package lists) and never imports torch.
"""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from harness.config import RunRequest
    from harness.weights import ResolvedWeights

GpuInfo = tuple[str, tuple[int, int]]  # (name, compute capability)
BNB_OPTIMIZERS = ("8bit", "paged")  # optimizer names that need bitsandbytes
# bitsandbytes' install guide: NF4/FP4 and the 8-bit optimizers need compute capability 6.0, and "Maxwell
# support is not included in PyPI distributions from v0.48.0 on" (the team's Quadro M6000 is Maxwell, 5.2).
BNB_MAXWELL_DROPPED = (0, 48)


def installed(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def bnb_version() -> str | None:
    """The installed bitsandbytes version, from its metadata (nothing imported), or None."""
    try:
        return metadata.version("bitsandbytes")
    except metadata.PackageNotFoundError:
        return None


def bnb_min_capability(version: str | None) -> tuple[int, int]:
    """The compute capability bitsandbytes' 4-bit and 8-bit kernels need at `version`: 6.0 from 0.48.0, whose
    PyPI wheels carry no Maxwell kernels, 5.0 before. A source build with Maxwell kernels cannot be told
    from a wheel by its version, and is refused too. Unknown (not installed where this is asked): the pinned
    `[gpu]` extra's, 6.0."""
    nums = re.findall(r"\d+", version or "")[:2]
    if len(nums) == 2 and (int(nums[0]), int(nums[1])) < BNB_MAXWELL_DROPPED:
        return (5, 0)
    return (6, 0)


def bnb_capability_problem(what: str, gpu: GpuInfo, version: str | None) -> str | None:
    """Why bitsandbytes (at `version`) cannot run `what` on `gpu`, or None."""
    name, cc = gpu
    need = bnb_min_capability(version)
    if cc >= need:
        return None
    return (
        f"{what} needs bitsandbytes, whose {version or 'current'} release needs compute capability >= "
        f"{need[0]}.{need[1]}; {name} has {cc[0]}.{cc[1]} (its PyPI wheels carry no Maxwell kernels from 0.48.0: "
        "pip install 'bitsandbytes<0.48', or build it from source for this GPU)"
    )


class Backend:
    """Defaults describe plain transformers + peft; a backend overrides what it does differently."""

    name: ClassVar[str]
    description: ClassVar[str]
    quants: ClassVar[tuple[str, ...]] = ("none", "nf4")  # quantisations it can train
    packages: ClassVar[tuple[str, ...]] = ()  # distributions that move its figures (recorded, in the run key)
    modules: ClassVar[tuple[str, ...]] = ()  # importable modules it needs (checked before the run)
    site_packages: ClassVar[tuple[str, ...]] = ()  # pip specs `make site` carries to the GPU machine
    needs_gpu: ClassVar[bool] = False
    min_compute_capability: ClassVar[tuple[int, int] | None] = None
    checkpointing_modes: ClassVar[tuple[str, ...]] = ()  # its own gradient-checkpointing modes, beyond true/false
    can_merge: ClassVar[bool] = False  # merge_and_unload before generating is supported
    forkable: ClassVar[bool] = True  # may start from the sweep's fork server (False: must import first)

    # ------------------------------------------------------------ before the run (no torch)
    def check(self, request: RunRequest, gpu: GpuInfo | None) -> str | None:
        """Why `request` cannot run with this backend on this machine (one line), or None."""
        if request.quant not in self.quants:
            return f"backend {self.name} does not support quant={request.quant} (it supports {', '.join(self.quants)})"
        if self.needs_gpu and (gpu is None or request.device == "cpu"):
            return f"{self.name} needs a CUDA GPU; none is visible on this machine"
        if self.min_compute_capability and gpu is not None:
            name, cc = gpu
            need = self.min_compute_capability
            if cc < need:
                return f"{self.name} needs compute capability >= {need[0]}.{need[1]}; {name} has {cc[0]}.{cc[1]}"
        missing = [m for m in self.modules if not installed(m)]
        if missing:
            return (
                f"{self.name} needs {', '.join(missing)}, which is not installed: "
                "pip install 'lora-harness[gpu]' (or carry the .site bundle)"
            )
        gc = request.train.gradient_checkpointing
        if isinstance(gc, str) and gc not in self.checkpointing_modes:
            return f"gradient_checkpointing: {gc} is not a mode of backend {self.name}; use true or false"
        return None

    def process_env(self, request: RunRequest) -> dict[str, str]:
        """Environment switches to set, and imports to make, before torch and transformers are imported."""
        return {}

    # ------------------------------------------------------------ in the run child
    def load(self, request: RunRequest, weights: ResolvedWeights, device: str, dtype: Any) -> tuple[Any, Any, dict]:
        raise NotImplementedError

    def add_adapter(self, model: Any, request: RunRequest) -> tuple[Any, dict]:
        raise NotImplementedError

    def to_inference(self, model: Any, request: RunRequest) -> None:
        """Switch to generation (some backends patch the forward pass for it)."""

    def to_training(self, model: Any, request: RunRequest) -> None:
        """Switch back to training after answers were generated."""

    def trainer_args(self, request: RunRequest) -> dict[str, Any]:
        """SFTConfig arguments this backend sets differently from the plain trainer."""
        return {}
