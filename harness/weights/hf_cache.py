"""The Hugging Face cache as transformers users know it: where it is (read from the environment now), the
user's HF_HUB_OFFLINE, what a folder must hold to count (weights with every shard, a tokenizer), and a
cache-only lookup. `Fetched` is what every lookup of a folder answers, from the cache, the hub or a local path."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

# Weights and what loading needs, at the repository's top level (transformers reads no subfolder).
WEIGHT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja", "*.py"]
# Config and tokenizer only: shape mode's few MB.
SHAPE_FILES = ["config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json", "vocab*",
               "merges.txt", "added_tokens.json", "*.tiktoken", "chat_template*", "spiece.model",
               "sentencepiece*.model"]  # fmt: skip
TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


@dataclass
class Fetched:
    """A local folder with what was asked for, and how the hub was used to get it."""

    path: Path | None
    access: str | None  # cache | downloaded | offline | unreachable; None: a local folder, no hub
    problem: str | None = None  # why `path` is None (one line)


def hub_offline() -> bool:
    """The user's HF_HUB_OFFLINE (read now, not at import time: tests and the CLI set it late)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_cache_dir() -> Path:
    """The Hugging Face cache, from the environment as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def has_weights(folder: Path) -> bool:
    """config.json plus every weight file it needs (all shards of a sharded checkpoint)."""
    if not (folder / "config.json").is_file():
        return False
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):  # fmt: skip
        if (folder / single).is_file():
            return True
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text())["weight_map"].values())
            except (ValueError, KeyError, OSError):
                return False
            return all((folder / s).is_file() for s in shards)
    return False


def has_tokenizer(folder: Path) -> bool:
    return any((folder / m).is_file() for m in TOKENIZER_MARKERS) or any(folder.glob("*.tiktoken"))


def cached(hub_id: str, patterns: list[str]) -> Path | None:
    """The cached snapshot folder of `hub_id` with the files matching `patterns`; None when not cached."""
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(hub_id, local_files_only=True, allow_patterns=patterns, cache_dir=hub_cache_dir())
        )
    except Exception:
        return None
