"""Saved LoRA adapters (`--save-adapters`; on by default for `harness.bench` with one model).

The child saves the fine-tuned adapter (PEFT layout: adapter_config.json, adapter_model.safetensors) into its
scratch folder before the tuned answers (an adapter merged into the weights for answering is gone after);
the sweep's parent moves it beside the result when the run ended ok, to results/<sweep>/adapters/<stem>/,
and records that folder in the result (`RunResult.adapter`). A run that ends otherwise keeps none.

    from peft import PeftModel
    model = PeftModel.from_pretrained(base_model, "results/<sweep>/adapters/<stem>")
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

SCRATCH_NAME = "adapter"  # inside the child's scratch folder (scratch/<stem>/adapter)
FOLDER = "adapters"  # inside the sweep's folder
FILES = ("adapter_config.json", "adapter_model.safetensors")


def save(model: Any, folder: Path, base_model: str) -> None:
    """In the child: the trained adapter only (not the base weights), as safetensors. `base_model` (the hub id
    or folder the run loaded) goes into adapter_config.json, where peft looks for the model to load it onto:
    the cache's snapshot path the weights came from would mean nothing on another machine."""
    for config in getattr(model, "peft_config", {}).values():
        config.base_model_name_or_path = base_model
    model.save_pretrained(str(folder), safe_serialization=True)


def keep(scratch_stem_dir: Path, sweep_root: Path, stem: str) -> str | None:
    """In the parent: move scratch/<stem>/adapter to adapters/<stem> (replacing an earlier run's); returns the
    folder relative to the sweep folder, or None when the child saved none."""
    src = scratch_stem_dir / SCRATCH_NAME
    if not all((src / f).is_file() for f in FILES):
        return None
    dest = sweep_root / FOLDER / stem
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        shutil.rmtree(dest)
    os.replace(src, dest)  # the same file system: scratch/ is inside the sweep folder
    return f"{FOLDER}/{stem}"


def discard(scratch_stem_dir: Path) -> None:
    """A run that did not end ok keeps no adapter."""
    shutil.rmtree(scratch_stem_dir / SCRATCH_NAME, ignore_errors=True)


def present(sweep_root: Path, recorded: str | None) -> bool:
    """The result's adapter folder is still there, whole."""
    return recorded is not None and all((sweep_root / recorded / f).is_file() for f in FILES)
