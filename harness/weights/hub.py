"""Fetching from the Hugging Face hub (`snapshot_download`): the HF cache first; on a miss, a download (progress
bars, resumable); cache only when the user sets HF_HUB_OFFLINE=1. Every failure is one line that says what to do
(gated, unknown id, offline, unreachable, the hub failing). The sweep's preflight does the download in the parent,
before any run starts, and tells the runs through the environment that their weights were downloaded for them."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from harness.weights.hf_cache import (
    SHAPE_FILES,
    WEIGHT_FILES,
    Fetched,
    cached,
    has_tokenizer,
    has_weights,
    hub_cache_dir,
    hub_offline,
)
from harness.weights.local import is_local_ref, local_model, local_shape_files

HUB_ACCESS_ENV = "HARNESS_HUB_ACCESS"  # JSON {hub id: "downloaded"}: what the sweep's preflight fetched

_REACHABLE: dict[str, bool] = {}


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT


def hub_reachable() -> bool:
    """One short request to the hub, without retries: huggingface_hub retries a dead network for ~25 s a file."""
    endpoint = hub_endpoint()
    if endpoint not in _REACHABLE:
        from huggingface_hub.utils import get_session

        try:
            get_session().head(endpoint, timeout=5.0)
            _REACHABLE[endpoint] = True
        except Exception:
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]


def model_page(hub_id: str) -> str:
    return f"{hub_endpoint()}/{hub_id}"


def hub_problem(label: str, hub_id: str, e: BaseException, what: str) -> str:
    """One line for a hub error: gated, unknown, or the hub failing."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    page = model_page(hub_id)
    if isinstance(e, GatedRepoError):
        if get_token() is None:
            return (f"{label}: {hub_id} is gated and no Hugging Face token is set: accept its licence at {page}, "
                    f"then log in with `hf auth login` (or set HF_TOKEN) and run again")  # fmt: skip
        return (f"{label}: your Hugging Face token has no access to gated {hub_id}: accept its licence at {page} "
                f"with the account of that token, then run again")  # fmt: skip
    if isinstance(e, RepositoryNotFoundError):
        return (f"{label}: no model '{hub_id}' on the hub ({page}): check the id; if it is private, "
                f"log in with `hf auth login` (or set HF_TOKEN)")  # fmt: skip
    if isinstance(e, HfHubHTTPError):
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return f"{label}: the hub failed while fetching {what} of {hub_id} ({first}); run again (downloads resume)"
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return f"{label}: fetching {what} of {hub_id} stopped ({type(e).__name__}: {first}); run again (downloads resume)"


def _miss(label: str, hub_id: str, what: str, offline: bool, real: bool) -> str:
    hint = ("pass --weights-path DIR (a save_pretrained folder), or use WEIGHTS=shape (random weights: time and "
            "memory only)") if real else "pass a local model folder as --model"  # fmt: skip
    fetch = f"`hf download {hub_id}` where there is network, then copy {hub_cache_dir()} here"
    if offline:
        return (f"{label}: {what} of {hub_id}: not in the Hugging Face cache, and HF_HUB_OFFLINE=1 is set; unset it "
                f"to download, or run {fetch}; or {hint}")  # fmt: skip
    return (f"{label}: {what} of {hub_id}: not in the Hugging Face cache, and the hub ({hub_endpoint()}) cannot be "
            f"reached; check the network or proxy (HTTPS_PROXY), or run {fetch}; or {hint}")  # fmt: skip


def _download(hub_id: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    # progress bars and resume (.incomplete files) are huggingface_hub's own
    return Path(snapshot_download(hub_id, allow_patterns=patterns, ignore_patterns=["*/*"], cache_dir=hub_cache_dir()))


def fetch_model(hub_id: str, label: str) -> Fetched:
    """Real weights: the HF cache first; a download when online; cache only under HF_HUB_OFFLINE=1."""
    if is_local_ref(hub_id):
        return local_model(Path(hub_id), label)
    found = cached(hub_id, [*WEIGHT_FILES, "*.bin"])
    if found is not None and has_weights(found):
        return Fetched(found, "offline" if hub_offline() else "cache")
    offline = hub_offline()
    if offline or not hub_reachable():
        return Fetched(
            None, "offline" if offline else "unreachable", _miss(label, hub_id, "the weights", offline, True)
        )
    print(f"{label}: downloading {hub_id} into the Hugging Face cache ({hub_cache_dir()}); it resumes if stopped",
          flush=True)  # fmt: skip
    try:
        folder = _download(hub_id, WEIGHT_FILES)
        if not has_weights(folder):  # an older repository with PyTorch .bin weights only
            folder = _download(hub_id, [*WEIGHT_FILES, "*.bin"])
    except Exception as e:
        return Fetched(None, None, hub_problem(label, hub_id, e, "the weights"))
    if not has_weights(folder):
        return Fetched(
            None, "downloaded", f"{label}: {hub_id} has no safetensors or PyTorch weights that transformers can load"
        )
    return Fetched(folder, "downloaded")


def fetch_shape_files(hub_id: str, label: str, need_config: bool) -> Fetched:
    """Config and tokenizer files only (shape mode), cache first. `problem` says what is missing:
    the config when `need_config` (an error for the caller), else the tokenizer (the stand-in is used)."""
    what = "config.json" if need_config else "the tokenizer"

    def complete(p: Path) -> bool:
        return (p / "config.json").is_file() and has_tokenizer(p) if need_config else has_tokenizer(p)

    if is_local_ref(hub_id):
        return local_shape_files(Path(hub_id), label, need_config)
    found = cached(hub_id, SHAPE_FILES)
    if found is not None and complete(found):
        return Fetched(found, "offline" if hub_offline() else "cache")
    offline = hub_offline()
    if offline or not hub_reachable():
        if found is not None and (found / "config.json").is_file() and need_config:
            return Fetched(found, "offline" if offline else "unreachable")  # config without a tokenizer: stand-in
        return Fetched(None, "offline" if offline else "unreachable", _miss(label, hub_id, what, offline, False))
    try:
        folder = _download(hub_id, SHAPE_FILES)
    except Exception as e:
        return Fetched(None, None, hub_problem(label, hub_id, e, what))
    if need_config and not (folder / "config.json").is_file():
        return Fetched(
            None, "downloaded", f"{label}: {hub_id} has no config.json on the hub; it is not a transformers model"
        )
    return Fetched(folder, "downloaded")


def preflight_access(hub_id: str) -> str | None:
    """What the sweep's preflight did for this hub id ("downloaded"), passed to the runs through the environment."""
    try:
        return json.loads(os.environ.get(HUB_ACCESS_ENV) or "{}").get(hub_id)
    except (ValueError, AttributeError):
        return None


def record_preflight_access(access: Mapping[str, str]) -> None:
    """Children inherit the parent's environment: they record that their weights were downloaded for them."""
    if access:
        os.environ[HUB_ACCESS_ENV] = json.dumps(dict(access), sort_keys=True)
