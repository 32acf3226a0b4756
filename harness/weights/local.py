"""A model on this machine rather than on the hub: `--weights-path DIR`, or a folder given as the model
(`--model PATH`, stored as the candidate's absolute `hub_id`); what it must hold, said in one line when it lacks it."""

from __future__ import annotations

from pathlib import Path

from harness.errors import UserError
from harness.weights.hf_cache import Fetched, has_weights


def is_local_ref(hub_id: str) -> bool:
    """A candidate whose `hub_id` is a folder on this machine (`--model PATH`), stored as an absolute path."""
    return Path(hub_id).is_absolute()


def local_model(folder: Path, label: str) -> Fetched:
    """Real weights in a model folder: config.json with its weights."""
    if has_weights(folder):
        return Fetched(folder, None)
    return Fetched(
        None, None, f"{label}: {folder} has no config.json with its weights; point it at a save_pretrained folder"
    )


def local_shape_files(folder: Path, label: str, need_config: bool) -> Fetched:
    """Shape mode's config (when `need_config`) in a model folder; its tokenizer is looked for later."""
    if (folder / "config.json").is_file() or not need_config:
        return Fetched(folder, None)
    return Fetched(None, None, f"{label}: {folder} has no config.json; point it at a model folder")


def weights_path_folder(weights_path: str) -> Path:
    """`--weights-path DIR`: a folder saved with save_pretrained (its config.json at least)."""
    p = Path(weights_path).expanduser()
    if not (p / "config.json").is_file():
        raise UserError(f"--weights-path {p}: no config.json there; point it at a folder saved with save_pretrained")
    return p
