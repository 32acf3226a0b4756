"""Shape mode: the candidate's architecture from `shape_config`, random weights from a fixed seed, built once
and saved to the harness's cache, so that every backend (plain or not, 16-bit or 4-bit) loads it the same way. The
tokenizer is the real one (config and tokenizer files only, a few MB, fetched by the preflight), else
a byte-level BPE trained on the run's data file: a stand-in, recorded as such."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from harness.config import Candidate, RunRequest
from harness.errors import UserError
from harness.weights.cache import cache_root, locked, save_entry, short_hash
from harness.weights.hf_cache import SHAPE_FILES, cached, has_tokenizer, hub_offline
from harness.weights.hub import preflight_access
from harness.weights.local import is_local_ref


def shape_config_hash(candidate: Candidate, seed: int) -> str:
    return short_hash({"model_type": candidate.model_type, "config": candidate.shape_config, "seed": seed})


def cached_tokenizer_dir(candidate: Candidate) -> tuple[Path | None, str | None]:
    """The real tokenizer of a shape-mode run: the model's folder, or the HF cache the preflight filled.
    Cache only, in the run: the preflight did the fetching, and told the user when there was none."""
    if is_local_ref(candidate.hub_id):
        p = Path(candidate.hub_id)
        return (p, None) if has_tokenizer(p) else (None, None)
    found = cached(candidate.hub_id, SHAPE_FILES)
    if found is not None and has_tokenizer(found):
        return found, preflight_access(candidate.hub_id) or ("offline" if hub_offline() else "cache")
    return None, "offline" if hub_offline() else None


def trained_tokenizer(texts: list[str], data_id: str, vocab_size: int) -> tuple[Path, str]:
    """A byte-level BPE trained on the run's data: stands in for a tokenizer we cannot download."""
    size = max(300, min(vocab_size, 4096))
    final = cache_root() / "tokenizers" / f"bpe-{data_id[:12]}-{size}"
    desc = f"byte-level BPE trained on the data file (sha256 {data_id[:12]}), vocab {size}"
    if (final / "tokenizer.json").exists():
        return final, desc
    with locked(final.with_suffix(".lock")):
        if (final / "tokenizer.json").exists():
            return final, desc
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<pad>", "<s>", "</s>"]
        trainer = trainers.BpeTrainer(
            vocab_size=size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        tok.train_from_iterator(texts, trainer=trainer)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
        save_entry(final, fast)
    return final, desc


def shape_model_config(candidate: Candidate) -> Any:
    """The transformers config of a candidate's `shape_config`, from a deep copy of it: transformers writes
    into the nested dicts it is given (a llama3 `rope_scaling` gains `rope_theta`), and the candidate is part
    of a request whose run key was taken already; a changed request would no longer re-hash to its key."""
    from transformers import AutoConfig

    return AutoConfig.for_model(candidate.model_type, **copy.deepcopy(candidate.shape_config))


def build_shape(request: RunRequest, device: str, tokenizer_dir: Path) -> tuple[Path, float | None]:
    """Random weights from the candidate's config and a fixed seed, saved once (bf16 on GPU, fp32 on CPU)."""
    cand, seed = request.candidate, request.train.seed
    dtype_name = "bf16" if device == "cuda" else "fp32"
    final = cache_root() / "shape" / f"{cand.name}-{shape_config_hash(cand, seed)}-{dtype_name}-{tokenizer_dir.name}"
    if (final / "config.json").exists():
        return final, None
    with locked(final.with_suffix(".lock")):
        if (final / "config.json").exists():
            return final, None
        t0 = time.perf_counter()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        config = shape_model_config(cand)
        if len(tok) > config.vocab_size:
            raise UserError(f"tokenizer in {tokenizer_dir} has {len(tok)} tokens, more than {cand.name}'s vocab")
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
            tid = getattr(tok, attr, None)
            if tid is not None:
                setattr(config, attr, tid)
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
        torch.manual_seed(seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        model.generation_config.eos_token_id = tok.eos_token_id
        model.generation_config.pad_token_id = tok.pad_token_id
        source = {"shape_of": cand.hub_id, "seed": seed, "built_on": device, "tokenizer": str(tokenizer_dir)}
        save_entry(final, model, tok, source=source)
        del model
        return final, time.perf_counter() - t0
