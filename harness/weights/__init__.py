"""Where a run's weights come from, resolved to a local folder that `from_pretrained` can load.

- real, `weights: gguf-package`: the GGUF file inside an installed package (`gguf`), converted once to a
  safetensors folder in the harness's cache (`cache`).
- real, `weights: hub`: `--weights-path` folder, or a local folder given as the model (`local`), else the
  Hugging Face hub as transformers users know it (`hub`): the HF cache first (`hf_cache`); on a miss, a
  download through huggingface_hub (progress bars, resumable); cache only when the user sets HF_HUB_OFFLINE=1.
  The preflight (harness/preflight.py) does the download in the parent, before any run starts, so a run finds its weights
  in the cache.
- shape (`shape`): the candidate's architecture from `shape_config`, random weights from a fixed seed, built
  once; the real tokenizer when reachable, else a byte-level BPE trained on the run's data file (a stand-in).

`resolver.resolve` picks the source. Nothing here imports torch or transformers at the top: the sweep parent
uses it. This package's names are the ones the rest of the harness imports; patch a function where it is looked
up (e.g. `harness.weights.hub.hub_reachable`), not here.
"""

from __future__ import annotations

from harness.weights.cache import cache_root
from harness.weights.gguf import convert_gguf, find_gguf
from harness.weights.hf_cache import (
    TOKENIZER_MARKERS,
    Fetched,
    has_tokenizer,
    has_weights,
    hub_cache_dir,
    hub_offline,
)
from harness.weights.hub import (
    HUB_ACCESS_ENV,
    fetch_model,
    fetch_shape_files,
    hub_endpoint,
    record_preflight_access,
)
from harness.weights.local import is_local_ref
from harness.weights.resolver import ResolvedWeights, find_real, resolve
from harness.weights.shape import shape_model_config, trained_tokenizer

__all__ = [
    "HUB_ACCESS_ENV",
    "TOKENIZER_MARKERS",
    "Fetched",
    "ResolvedWeights",
    "cache_root",
    "convert_gguf",
    "fetch_model",
    "fetch_shape_files",
    "find_gguf",
    "find_real",
    "has_tokenizer",
    "has_weights",
    "hub_cache_dir",
    "hub_endpoint",
    "hub_offline",
    "is_local_ref",
    "record_preflight_access",
    "resolve",
    "shape_model_config",
    "trained_tokenizer",
]
