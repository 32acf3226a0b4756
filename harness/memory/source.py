"""Where a model's config comes from: a candidate (candidates.yaml), a folder with config.json, or a hub id
whose config is in the local Hugging Face cache. Config only: no weights are read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import CANDIDATES_FILE as CANDIDATES  # the source tree's copy, or the installed one
from harness.errors import UserError
from harness.memory.shape import ALL_LINEAR


@dataclass(frozen=True)
class ModelSpec:
    label: str
    config: dict[str, Any]  # config.json fields, "model_type" included
    targets: tuple[str, ...]  # LoRA target modules
    candidate: dict[str, Any] | None = None  # the candidates.yaml entry, when it is one


def candidates(path: Path = CANDIDATES) -> list[dict[str, Any]]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{path}: cannot read the candidates ({type(e).__name__})") from None
    return list((raw or {}).get("candidates") or [])


def from_candidate(c: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        label=f"{c['name']} ({c.get('hub_id', '')}, shape config from candidates.yaml)",
        config={"model_type": c["model_type"], **c["shape_config"]},
        targets=tuple(c["lora_target_modules"]),
        candidate=c,
    )


def resolve(model: str, targets: list[str] | None = None, path: Path = CANDIDATES) -> ModelSpec:
    """A candidate name or hub id, a folder with config.json, or a hub id in the local cache."""
    for c in candidates(path):
        if model in (c.get("name"), c.get("hub_id")):
            spec = from_candidate(c)
            return spec if not targets else ModelSpec(spec.label, spec.config, tuple(targets), c)
    folder = Path(model).expanduser()
    if folder.is_dir():
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise UserError(f"--model {model}: no config.json in that folder")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except ValueError:
            raise UserError(f"{cfg_path}: not valid JSON") from None
        label = f"{folder} (config.json)"
    else:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model, local_files_only=True).to_dict()
        except Exception:
            names = ", ".join(c["name"] for c in candidates(path))
            raise UserError(
                f"--model {model}: not a candidate ({names}), not a folder, and its config is not in the local "
                f"Hugging Face cache (offline); download its config.json and pass the folder"
            ) from None
        label = f"{model} (config from the local Hugging Face cache)"
    if not isinstance(config, dict) or not config.get("model_type"):
        raise UserError(f"--model {model}: its config.json has no model_type")
    return ModelSpec(label=label, config=config, targets=tuple(targets or (ALL_LINEAR,)))
