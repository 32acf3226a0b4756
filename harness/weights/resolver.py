"""Which source a run's weights come from, resolved to a local folder that `from_pretrained` can load:
shape mode (`weights: shape`), a GGUF inside a package (`weights: gguf-package`), else real weights from
`--weights-path`, a local folder given as the model, or the hub (cache first). One-time costs (conversion,
building, a stand-in tokenizer's training) are returned apart and never enter a run's phase figures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import RunRequest
from harness.errors import UserError
from harness.weights.gguf import convert_gguf
from harness.weights.hub import fetch_model, preflight_access
from harness.weights.local import is_local_ref, weights_path_folder
from harness.weights.shape import build_shape, cached_tokenizer_dir, shape_config_hash, trained_tokenizer


@dataclass
class ResolvedWeights:
    model_dir: Path
    tokenizer_dir: Path
    source: str
    tokenizer_desc: str
    one_time: dict[str, float] = field(default_factory=dict)  # seconds, only when done in this run
    seed: int | None = None
    hub_access: str | None = None  # cache | downloaded | offline | unreachable; None: no hub involved
    tokenizer_kind: str = "real"  # "real", or "stand-in" (a BPE trained on the data: lengths are not the model's)


def find_real(request: RunRequest) -> tuple[Path, str | None]:
    """(folder, hub access) of a run's real weights: --weights-path, a local folder, or the hub (cache first)."""
    cand = request.candidate
    if request.weights_path:
        return weights_path_folder(request.weights_path), None
    got = fetch_model(cand.hub_id, f"candidate '{cand.name}'")
    if got.path is None:
        raise UserError(got.problem or f"candidate '{cand.name}': weights of {cand.hub_id} not found")
    return got.path, (preflight_access(cand.hub_id) or got.access) if got.access else None


def _shape(request: RunRequest, device: str, data_texts: list[str], data_id: str) -> ResolvedWeights:
    cand = request.candidate
    one_time: dict[str, float] = {}
    real_tok, access = cached_tokenizer_dir(cand)
    if real_tok is not None:
        where = "the model's folder" if is_local_ref(cand.hub_id) else f"HF cache, {access}"
        tok_dir, tok_desc, kind = real_tok, f"real tokenizer of {cand.hub_id} ({where})", "real"
    else:
        vocab = int(cand.shape_config.get("vocab_size", 32000))
        t0 = time.perf_counter()
        tok_dir, tok_desc = trained_tokenizer(data_texts, data_id, vocab)
        tok_desc = f"stand-in: {tok_desc} (no real tokenizer of {cand.hub_id} was reachable)"
        kind = "stand-in"
        print(f"warning: {cand.name}: {tok_desc}; sequence lengths are not the model's", flush=True)
        one_time["tokenizer_train_s"] = time.perf_counter() - t0
    model_dir, built = build_shape(request, device, tok_dir)
    if built is not None:
        one_time["shape_build_s"] = built
    return ResolvedWeights(
        model_dir=model_dir,
        tokenizer_dir=model_dir,
        source=f"shape:{cand.name}:{shape_config_hash(cand, request.train.seed)}",
        tokenizer_desc=tok_desc,
        one_time=one_time,
        seed=request.train.seed,
        hub_access=access,
        tokenizer_kind=kind,
    )


def _gguf(request: RunRequest) -> ResolvedWeights:
    cand = request.candidate
    folder, seconds = convert_gguf(cand)
    one = {"weights_conversion_s": seconds} if seconds is not None else {}
    assert cand.gguf is not None
    return ResolvedWeights(
        model_dir=folder,
        tokenizer_dir=folder,
        source=f"gguf:{cand.gguf.package}/{cand.gguf.file}",
        tokenizer_desc=f"converted from the GGUF file, eos fixed to {cand.gguf.eos_token}",
        one_time=one,
    )


def resolve(request: RunRequest, device: str, data_texts: list[str], data_id: str) -> ResolvedWeights:
    """The run's weights and tokenizer as folders, with where they came from and what it cost once."""
    cand = request.candidate
    if request.weights == "shape":
        return _shape(request, device, data_texts, data_id)
    if cand.weights == "gguf-package":
        return _gguf(request)
    folder, access = find_real(request)
    local = request.weights_path or is_local_ref(cand.hub_id)
    src = f"local:{folder}" if local else f"hub:{cand.hub_id}"
    return ResolvedWeights(
        model_dir=folder, tokenizer_dir=folder, source=src, tokenizer_desc=f"real ({src})", hub_access=access
    )
