"""Where a run's weights come from, resolved to a local folder that `from_pretrained` can load.

- real, `weights: gguf-package`: the GGUF file inside an installed package (located with
  importlib.util.find_spec, never imported), converted once to a safetensors folder in the cache.
- real, `weights: hub`: `--weights-path` folder, else the Hugging Face cache, offline only.
- shape: the candidate's architecture from `shape_config`, random weights from a fixed seed,
  built once and saved to the cache, so that every backend (plain, 4-bit, Unsloth) loads it the
  same way; the tokenizer is the real one if it is in the local HF cache, else a byte-level BPE
  trained on the run's data file (recorded).

One-time costs (conversion, building) are returned apart and never enter a run's phase figures.
The cache lives in $HARNESS_CACHE (default ~/.cache/lora-harness), outside the repository.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import Candidate, RunRequest
from harness.errors import UserError


@dataclass
class ResolvedWeights:
    model_dir: Path
    tokenizer_dir: Path
    source: str
    tokenizer_desc: str
    one_time: dict[str, float] = field(default_factory=dict)  # seconds, only when done in this run
    seed: int | None = None


def cache_root() -> Path:
    root = Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "lora-harness")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builders of one cache entry across processes (several GPUs, several sweeps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _publish(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.replace(tmp, final)


def _save_entry(final: Path, *parts: Any, source: dict[str, Any] | None = None) -> None:
    """save_pretrained each part (model, tokenizer) into a temp folder beside `final`, then publish it whole."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    for part in parts:
        part.save_pretrained(tmp)
    if source is not None:
        (tmp / "harness-source.json").write_text(json.dumps(source))
    _publish(tmp, final)


def _short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- GGUF inside a package


def find_gguf(candidate: Candidate) -> Path:
    assert candidate.gguf is not None
    spec = importlib.util.find_spec(candidate.gguf.package)  # finds the package without running its __init__
    if spec is None or spec.origin is None:
        raise UserError(
            f"candidate '{candidate.name}': package '{candidate.gguf.package}' is not installed; "
            f"run `make setup` (it installs it with pip --no-deps)"
        )
    path = Path(spec.origin).parent / candidate.gguf.file
    if not path.is_file():
        raise UserError(f"candidate '{candidate.name}': {path} not found in the installed package; reinstall it")
    return path


def _file_id(path: Path) -> str:
    st = path.stat()
    return _short_hash([path.name, st.st_size, int(st.st_mtime)])


def convert_gguf(candidate: Candidate) -> tuple[Path, float | None]:
    """Dequantise the GGUF file once into a safetensors folder; returns (folder, seconds if converted now)."""
    gguf_path = find_gguf(candidate)
    final = cache_root() / "gguf" / f"{candidate.name}-{_file_id(gguf_path)}"
    if (final / "config.json").exists():
        return final, None
    with _locked(final.with_suffix(".lock")):
        if (final / "config.json").exists():
            return final, None
        t0 = time.perf_counter()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        eos = candidate.gguf.eos_token if candidate.gguf else None
        if eos:
            # The GGUF conversion sets eos to <|im_start|> and no pad; the model's config says <|im_end|>.
            tok.eos_token = eos
            tok.pad_token = eos
            eos_id = tok.convert_tokens_to_ids(eos)
            model.config.eos_token_id = eos_id
            model.config.pad_token_id = eos_id
            model.generation_config.eos_token_id = eos_id
            model.generation_config.pad_token_id = eos_id
        # save_pretrained refuses a model "quantized with GGUF"; the weights are already dequantised.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        _save_entry(final, model, tok, source={"gguf": str(gguf_path), "eos_fix": eos})
        return final, time.perf_counter() - t0


# ---------------------------------------------------------------- hub / local folder


def find_real(request: RunRequest) -> Path:
    cand = request.candidate
    if request.weights_path:
        p = Path(request.weights_path).expanduser()
        if not (p / "config.json").is_file():
            raise UserError(
                f"--weights-path {p}: no config.json there; point it at a folder saved with save_pretrained"
            )
        return p
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(cand.hub_id, local_files_only=True))
    except Exception:
        raise UserError(
            f"weights for '{cand.name}' ({cand.hub_id}) are not in the local Hugging Face cache and the hub is "
            f"offline: download them where there is network (`hf download {cand.hub_id}`) and copy the cache, "
            f"pass --weights-path DIR, or use WEIGHTS=shape (random weights: time and memory only)"
        ) from None


# ---------------------------------------------------------------- shape mode


def shape_config_hash(candidate: Candidate, seed: int) -> str:
    return _short_hash({"model_type": candidate.model_type, "config": candidate.shape_config, "seed": seed})


def _local_real_tokenizer(candidate: Candidate) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        p = Path(snapshot_download(candidate.hub_id, local_files_only=True, allow_patterns=["*token*", "*.model"]))
        return p if any(p.glob("tokenizer*")) else None
    except Exception:
        return None


def trained_tokenizer(texts: list[str], data_id: str, vocab_size: int) -> tuple[Path, str]:
    """A byte-level BPE trained on the run's data: stands in for a tokenizer we cannot download."""
    size = max(300, min(vocab_size, 4096))
    final = cache_root() / "tokenizers" / f"bpe-{data_id[:12]}-{size}"
    desc = f"byte-level BPE trained on the data file (sha256 {data_id[:12]}), vocab {size}"
    if (final / "tokenizer.json").exists():
        return final, desc
    with _locked(final.with_suffix(".lock")):
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
        _save_entry(final, fast)
    return final, desc


def build_shape(request: RunRequest, device: str, tokenizer_dir: Path) -> tuple[Path, float | None]:
    """Random weights from the candidate's config and a fixed seed, saved once (bf16 on GPU, fp32 on CPU)."""
    cand, seed = request.candidate, request.train.seed
    dtype_name = "bf16" if device == "cuda" else "fp32"
    final = cache_root() / "shape" / f"{cand.name}-{shape_config_hash(cand, seed)}-{dtype_name}-{tokenizer_dir.name}"
    if (final / "config.json").exists():
        return final, None
    with _locked(final.with_suffix(".lock")):
        if (final / "config.json").exists():
            return final, None
        t0 = time.perf_counter()
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        config = AutoConfig.for_model(cand.model_type, **cand.shape_config)
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
        _save_entry(final, model, tok, source=source)
        del model
        return final, time.perf_counter() - t0


def resolve(request: RunRequest, device: str, data_texts: list[str], data_id: str) -> ResolvedWeights:
    cand = request.candidate
    if request.weights == "shape":
        one_time: dict[str, float] = {}
        real_tok = _local_real_tokenizer(cand)
        if real_tok is not None:
            tok_dir, tok_desc = real_tok, f"real tokenizer of {cand.hub_id} (local cache)"
        else:
            vocab = int(cand.shape_config.get("vocab_size", 32000))
            t0 = time.perf_counter()
            tok_dir, tok_desc = trained_tokenizer(data_texts, data_id, vocab)
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
        )
    if cand.weights == "gguf-package":
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
    folder = find_real(request)
    src = f"local:{folder}" if request.weights_path else f"hub:{cand.hub_id}"
    return ResolvedWeights(model_dir=folder, tokenizer_dir=folder, source=src, tokenizer_desc=f"real ({src})")
