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
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import BaseModel

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


@dataclass(frozen=True)
class BackendFlag:
    """A command-line option of a backend's own (`--unsloth-compile`), added to the run commands' parser from
    the registry; its value goes to one field of the request (`unsloth.compile`)."""

    flag: str  # as typed: "--unsloth-compile"
    field: str  # the request's field path it sets
    choices: tuple[str, ...] | None = None
    help: str | None = None

    @property
    def dest(self) -> str:
        """argparse's attribute name: "unsloth_compile"."""
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class PublishedClaim:
    """A backend's own published figures, set beside ours in the report's backends section and plot."""

    text: str  # the claim as a sentence
    settings: dict[str, Any]  # what it was measured at (quant, per_device_batch, grad_accum, lora_rank)
    step_ratio: float  # backend / plain steady step time it claims (a dashed line in the plot)
    step_label: str
    memory_ratio: float  # backend / plain peak memory it claims
    memory_label: str


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
    # modules the fork server imports for it (forkable backends only; the union of them, see harness.backends)
    preloads: ClassVar[tuple[str, ...]] = ()
    # modules the fork server must never import: they patch libraries or touch CUDA when imported
    never_preload: ClassVar[tuple[str, ...]] = ()
    compile_caches: ClassVar[dict[str, str]] = {}  # its own compile caches: name -> the variable naming the folder
    # trl switches that turn it on (SFTConfig arguments): every run sets them explicitly, off unless its backend's
    # `trainer_args` turns them on, so that no run depends on trl's defaults
    trainer_switches: ClassVar[tuple[str, ...]] = ()
    child_env: ClassVar[dict[str, str]] = {}  # variables every run child gets (set before any import)
    recorded_env: ClassVar[tuple[str, ...]] = ()  # variables that change what it does, recorded when set
    shown_packages: ClassVar[tuple[str, ...]] = ()  # package names the report's environment shows for it
    # its own settings: a section of the request (`request.<settings_field>`), with its own CLI flags
    settings_field: ClassVar[str | None] = None
    settings_model: ClassVar[type[BaseModel] | None] = None
    flags: ClassVar[tuple[BackendFlag, ...]] = ()
    claim: ClassVar[PublishedClaim | None] = None
    title: ClassVar[str] = ""  # its name in prose ("Unsloth"); "" for the plain backend
    candidate_column: ClassVar[str | None] = None  # a column of `lora-harness list` (see `candidate_fact`)

    # ---- the memory model's terms (harness.memory.model)
    memory_calibrated: ClassVar[bool] = False  # the fitted coefficients were measured with this backend's runs
    holds_logits: ClassVar[bool] = True  # the loss holds the vocabulary-sized logits (fused kernels do not)
    kbit_casts_fp32: ClassVar[bool] = False  # nf4: the parameters it does not quantise are cast to fp32
    offloaded_checkpointing: ClassVar[tuple[str, ...]] = ()  # its checkpointing modes that keep no layer input

    def effective_facts(self, load_info: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
        """Its own fields of the run's `Effective` (what it loaded, the switches `process_env` set)."""
        return {}

    def checkpointing_read_back(self, model: Any) -> str | None:
        """Its own checkpointing mode when the live model shows it armed (the run's read-back), else None."""
        return None

    def candidate_fact(self, candidate: Any) -> str:
        """What `candidate_column` shows for a candidate."""
        return ""

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
