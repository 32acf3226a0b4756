"""Backends: how a model is loaded, given LoRA adapters and trained. One module each, one line each here.

    python -m harness.backends        # the registered backends, and the pip specs `make site` carries

Adding a backend: write `harness/backends/NAME.py` with a `Backend` subclass (see base.py), and add
it to `REGISTRY` below. Config and CLI choices, capability checks, recorded package versions and
run keys derive from the registry.
"""

from __future__ import annotations

from harness.backends.base import Backend, GpuInfo, installed
from harness.backends.hf import HF
from harness.backends.liger import Liger
from harness.backends.unsloth import Unsloth

REGISTRY: dict[str, Backend] = {b.name: b for b in (HF(), Unsloth(), Liger())}
NAMES: tuple[str, ...] = tuple(REGISTRY)
QUANTS: tuple[str, ...] = ("none", "nf4")  # 16-bit LoRA, 4-bit QLoRA (bitsandbytes nf4)


def get(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend '{name}': known backends are {', '.join(NAMES)}") from None


__all__ = ["NAMES", "QUANTS", "REGISTRY", "Backend", "GpuInfo", "get", "installed"]
