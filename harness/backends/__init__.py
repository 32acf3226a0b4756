"""Backends: how a model is loaded, given LoRA adapters and trained. One module each, one line each here.

    python -m harness.backends        # the registered backends, and the pip specs `make site` carries

Adding a backend: write `harness/backends/NAME.py` with a `Backend` subclass (see base.py), and add
it to `REGISTRY` below. Config and CLI choices (its own settings and flags too), capability checks,
recorded package versions, run keys, the fork server's preloads, compile caches, the memory model's
terms and the report's backend facts derive from the registry: nothing outside this folder names a backend.
"""

from __future__ import annotations

import argparse

from harness.backends.base import Backend, BackendFlag, GpuInfo, PublishedClaim, installed
from harness.backends.hf import HF
from harness.backends.liger import Liger
from harness.backends.unsloth import Unsloth

REGISTRY: dict[str, Backend] = {b.name: b for b in (HF(), Unsloth(), Liger())}
NAMES: tuple[str, ...] = tuple(REGISTRY)
QUANTS: tuple[str, ...] = ("none", "nf4")  # 16-bit LoRA, 4-bit QLoRA (bitsandbytes nf4)
# The plain backend (transformers + peft + trl as they ship): the default, and what the others are compared with.
PLAIN: str = HF.name

# Gathered from the classes, in registry order.
CHECKPOINTING_MODES: tuple[str, ...] = tuple(dict.fromkeys(m for b in REGISTRY.values() for m in b.checkpointing_modes))
FLAGS: tuple[BackendFlag, ...] = tuple(f for b in REGISTRY.values() for f in b.flags)
COMPILE_CACHES: dict[str, str] = {k: v for b in REGISTRY.values() for k, v in b.compile_caches.items()}
CHILD_ENV: dict[str, str] = {k: v for b in REGISTRY.values() for k, v in b.child_env.items()}
RECORDED_ENV: tuple[str, ...] = tuple(dict.fromkeys(v for b in REGISTRY.values() for v in b.recorded_env))
TRAINER_SWITCHES_OFF: dict[str, bool] = {s: False for b in REGISTRY.values() for s in b.trainer_switches}
SHOWN_PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(p for b in REGISTRY.values() for p in b.shown_packages))
# The packages the first run-key form hashed (schema-1 result files, harness e6db1ed and before): the backends of its
# day (hf, unsloth) and nf4's, whatever the run's backend. Frozen, not gathered: the report re-hashes old files with it.
FIRST_KEY_FORM_PACKAGES: tuple[str, ...] = (
    "torch", "transformers", "peft", "trl", "datasets", "accelerate", "bitsandbytes", "unsloth", "unsloth_zoo", "gguf"
)  # fmt: skip


def get(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown backend '{name}': known backends are {', '.join(NAMES)}") from None


def settings_sections() -> dict[str, type]:
    """The request sections backends own: field name -> its pydantic model (`unsloth` -> UnslothSettings)."""
    return {b.settings_field: b.settings_model for b in REGISTRY.values() if b.settings_field and b.settings_model}


def preloads() -> tuple[str, ...]:
    """The modules the forkable backends ask the fork server to import, in registry order."""
    return tuple(dict.fromkeys(m for b in REGISTRY.values() if b.forkable for m in b.preloads))


def never_preload() -> tuple[str, ...]:
    """Modules of the backends that the fork server must not import (they patch libraries or touch CUDA)."""
    return tuple(dict.fromkeys(m for b in REGISTRY.values() for m in b.never_preload))


def offloads_checkpointing(mode: object) -> bool:
    """Whether a gradient-checkpointing mode keeps no layer input on the GPU (a backend's offloading mode)."""
    return any(mode in b.offloaded_checkpointing for b in REGISTRY.values())


def add_flags(parser: argparse.ArgumentParser) -> None:
    """Every backend's own command-line options (`--unsloth-compile`)."""
    for f in FLAGS:
        parser.add_argument(f.flag, choices=list(f.choices) if f.choices else None, help=f.help)


def flag_settings(args: argparse.Namespace) -> dict[str, object]:
    """The request fields the backends' options set on this command line: field path -> value."""
    return {f.field: getattr(args, f.dest) for f in FLAGS if getattr(args, f.dest, None)}


__all__ = [
    "CHECKPOINTING_MODES", "CHILD_ENV", "COMPILE_CACHES", "FIRST_KEY_FORM_PACKAGES", "FLAGS", "NAMES", "PLAIN",
    "QUANTS", "RECORDED_ENV",
    "REGISTRY", "SHOWN_PACKAGES", "TRAINER_SWITCHES_OFF", "Backend", "BackendFlag", "GpuInfo", "PublishedClaim", "add_flags", "flag_settings",
    "get", "installed", "never_preload", "offloads_checkpointing", "preloads", "settings_sections",
]  # fmt: skip
