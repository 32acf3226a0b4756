"""Where a model's config comes from: a candidate (candidates.yaml), a folder with config.json, or a hub id,
whose config.json is resolved as transformers users expect: the Hugging Face cache first, else downloaded
(cache only under HF_HUB_OFFLINE=1). Config only: no weights are read. Which of these `--model` names is
`harness.model_spec.model_ref`'s answer, the one the runs follow too."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.config import CANDIDATES_FILE as CANDIDATES  # the source tree's copy, or the installed one
from harness.errors import UserError
from harness.memory.shape import ALL_LINEAR
from harness.model_spec import model_ref


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
    entries = candidates(path)
    what = model_ref(model, ((str(c.get("name") or ""), str(c.get("hub_id") or "")) for c in entries))
    if what.kind == "candidate":
        c = next(c for c in entries if c.get("name") == what.name)
        spec = from_candidate(c)
        return spec if not targets else ModelSpec(spec.label, spec.config, tuple(targets), c)
    folder = what.folder
    if folder is not None:
        cfg_path = folder / "config.json"
        if not cfg_path.is_file():
            raise UserError(f"--model {model}: no config.json in that folder")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except ValueError:
            raise UserError(f"{cfg_path}: not valid JSON") from None
        label = f"{folder} (config.json)"
    else:
        names = ", ".join(c["name"] for c in entries)
        config, how = hub_config(model, f"--model {model}: not a candidate ({names}), not a folder, and")
        label = f"{model} (config {how})"
    if not isinstance(config, dict) or not config.get("model_type"):
        raise UserError(f"--model {model}: its config.json has no model_type")
    return ModelSpec(label=label, config=config, targets=tuple(targets or (ALL_LINEAR,)))


def hub_config(model: str, lead: str) -> tuple[dict[str, Any], str]:
    """(config as transformers reads it, where it came from) for a hub id: the cache first, else a download of
    config.json alone; `lead` starts the one-line error when it cannot be had."""
    from huggingface_hub import hf_hub_download

    from harness.weights.hf_cache import hub_cache_dir, hub_offline
    from harness.weights.hub import hub_endpoint, hub_problem, hub_reachable

    cache = hub_cache_dir()
    how = "from the Hugging Face cache"
    try:
        hf_hub_download(model, "config.json", local_files_only=True, cache_dir=cache)
    except Exception:  # not cached (or not a valid id: the download below names it)
        if hub_offline():
            raise UserError(
                f"{lead} its config.json is not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE=1 is set; "
                f"unset it to download, or pass a folder with its config.json"
            ) from None
        if not hub_reachable():
            raise UserError(
                f"{lead} its config.json is not in the Hugging Face cache and the hub ({hub_endpoint()}) cannot be "
                f"reached; check the network or proxy (HTTPS_PROXY), or pass a folder with its config.json"
            ) from None
        try:
            hf_hub_download(model, "config.json", cache_dir=cache)
        except Exception as e:
            raise UserError(hub_problem(f"--model {model}", model, e, "config.json")) from None
        how = "downloaded from the hub"
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(model, local_files_only=True, cache_dir=str(cache)).to_dict()
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"--model {model}: transformers cannot read its config.json ({first})") from None
    return config, how
