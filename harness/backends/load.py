"""Load a model for a run and wrap it with LoRA, for the `hf` and `unsloth` backends.

Each function returns what it really did (dtype, quantised modules, fp32 casts, Unsloth's path),
which the run records in `Effective`. Unsloth must be imported before transformers in the same
process: `harness.run` does that when the request's backend is unsloth.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from harness.config import RunRequest, UnslothSettings
from harness.weights import ResolvedWeights

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

UNSLOTH_COMPILE_ENV = {
    "default": {},
    "block_off": {"UNSLOTH_BLOCK_COMPILE": "0"},  # its per-layer regional compile off, the rest on
    "all_off": {"UNSLOTH_COMPILE_DISABLE": "1"},  # every torch.compile of Unsloth's off
}


def resolve_dtype(request: RunRequest, device: str) -> torch.dtype:
    """auto: bf16 on GPUs that have it, else fp16; fp32 on the CPU (bf16 matmuls there are slow)."""
    if request.train.dtype != "auto":
        return DTYPES[request.train.dtype]
    if device == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in DTYPES.items()}.get(dtype, str(dtype))


def prepare_tokenizer(tok: Any) -> dict[str, Any]:
    """Pad token and padding sides, recorded. Left padding for batched generation."""
    info: dict[str, Any] = {}
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
        info["pad_token"] = "eos (tokenizer had none)"
    else:
        info["pad_token"] = tok.pad_token
    info["eos_token"] = tok.eos_token
    return info


def count_params(model: Any) -> dict[str, int]:
    seen: set[int] = set()
    total = trainable = fp32 = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = p.numel()
        quant_state = getattr(p, "quant_state", None)  # bitsandbytes Params4bit: packed, two values a byte
        if quant_state is not None and hasattr(quant_state, "shape"):
            n = torch.Size(quant_state.shape).numel()
        total += n
        if p.requires_grad:
            trainable += n
        if p.dtype == torch.float32:
            fp32 += n
    return {"total_params": total, "trainable_params": trainable, "fp32_params": fp32}


def _bnb_config(dtype: torch.dtype) -> Any:
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )


# ---------------------------------------------------------------- hf (peft + trl)


def load_hf(request: RunRequest, weights: ResolvedWeights, device: str, dtype: torch.dtype) -> tuple[Any, Any, dict]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    trust = request.trust_remote_code and request.candidate.trust_remote_code
    tok = AutoTokenizer.from_pretrained(str(weights.tokenizer_dir), trust_remote_code=trust)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust}
    if device == "cuda":
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if request.quant == "nf4":
        kwargs["quantization_config"] = _bnb_config(dtype)
    model = AutoModelForCausalLM.from_pretrained(str(weights.model_dir), **kwargs)
    if device == "cpu":
        model.to("cpu")
    info = prepare_tokenizer(tok)
    info["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
    if request.quant == "nf4":
        info["quantized_modules"] = sum(1 for m in model.modules() if m.__class__.__name__ == "Linear4bit")
    return model, tok, info


def add_lora_hf(model: Any, request: RunRequest) -> tuple[Any, dict]:
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if hasattr(model, "peft_config"):
        raise RuntimeError("model already has adapters; every run starts from a fresh model")
    info: dict[str, Any] = {}
    gc = bool(request.train.gradient_checkpointing)
    if request.quant == "nf4":
        before = count_params(model)["fp32_params"]
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc)
        # it casts every parameter it does not quantise to fp32 (embeddings, norms): this decides the memory
        info["kbit_fp32_cast_params"] = count_params(model)["fp32_params"] - before
    targets = request.lora.target_modules or request.candidate.lora_target_modules
    cfg = LoraConfig(
        r=request.lora.rank,
        lora_alpha=request.lora.alpha,
        lora_dropout=request.lora.dropout,
        target_modules=targets,
        bias=request.lora.bias,
        init_lora_weights=request.lora.init_lora_weights,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, cfg)
    info["lora_targets"] = sorted(model.peft_config["default"].target_modules)
    return model, info


# ---------------------------------------------------------------- unsloth


def unsloth_env(settings: UnslothSettings) -> dict[str, str]:
    return dict(UNSLOTH_COMPILE_ENV[settings.compile])


def import_unsloth_first(settings: UnslothSettings) -> dict[str, str]:
    """Set Unsloth's switches and import it before transformers, trl and peft are imported."""
    env = {"HF_HUB_OFFLINE": "1", "UNSLOTH_DISABLE_STATISTICS": "1", **unsloth_env(settings)}
    os.environ.update(env)
    import unsloth  # noqa: F401  (patches transformers, trl and peft globally)

    return env


def load_unsloth(request: RunRequest, weights: ResolvedWeights, dtype: torch.dtype) -> tuple[Any, Any, dict[str, Any]]:
    native = request.candidate.unsloth_native
    loader = _unsloth_loader(request)
    model, tok = loader.from_pretrained(
        model_name=str(weights.model_dir),
        max_seq_length=request.train.max_length,
        dtype=dtype,
        load_in_4bit=request.quant == "nf4",  # explicit: Unsloth defaults to 4-bit
        load_in_8bit=False,
        full_finetuning=False,
        local_files_only=True,
        trust_remote_code=request.trust_remote_code and request.candidate.trust_remote_code,
    )
    info = prepare_tokenizer(tok)
    info["unsloth_path"] = "native" if native else "generic"
    info["unsloth_loader"] = loader.__name__
    info["model_class"] = type(model).__name__
    return model, tok, info


def add_lora_unsloth(model: Any, request: RunRequest) -> tuple[Any, dict]:
    loader = _unsloth_loader(request)
    gc = request.train.gradient_checkpointing
    model = loader.get_peft_model(
        model,
        r=request.lora.rank,
        lora_alpha=request.lora.alpha,
        lora_dropout=request.lora.dropout,
        target_modules=request.lora.target_modules or request.candidate.lora_target_modules,
        bias=request.lora.bias,
        use_gradient_checkpointing=gc if gc == "unsloth" else bool(gc),
        random_state=request.train.seed,
    )
    return model, {"lora_targets": sorted(model.peft_config["default"].target_modules)}


def _unsloth_loader(request: RunRequest) -> Any:
    from unsloth import FastLanguageModel, FastModel

    return FastLanguageModel if request.candidate.unsloth_native else FastModel


def unsloth_mode(model: Any, request: RunRequest, mode: str) -> None:
    """Switch an Unsloth model between generation ("inference") and training, with the class that loaded it."""
    loader = _unsloth_loader(request)
    if mode == "inference":
        loader.for_inference(model)
    else:
        loader.for_training(model)
