"""What every backend shares once torch is loaded: dtypes, tokenizer set-up, parameter counts, nf4 config.
Only a run child calls it; torch is imported inside the functions, so that importing the module loads nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.dtypes import train_dtype

if TYPE_CHECKING:
    import torch

    from harness.config import RunRequest


def dtypes() -> dict[str, torch.dtype]:
    """harness.dtypes' names to torch's dtypes."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def device_capability(request: RunRequest, device: str) -> tuple[int, int] | None:
    """The compute capability the run trains for: the emulated GPU's, else the device's (None on the CPU)."""
    if device == "cpu":
        return None
    if request.emulate is not None:
        return tuple(request.emulate.compute_capability)  # type: ignore[return-value]
    import torch

    return tuple(torch.cuda.get_device_capability())  # type: ignore[return-value]


def resolve_dtype(request: RunRequest, device: str) -> torch.dtype:
    """harness.dtypes' rule: auto is bf16 only where native (8.0 and up), else fp16; fp32 on the CPU. Not
    `torch.cuda.is_bf16_supported()`: in torch 2.11-2.13 it is True on any GPU that can emulate bf16."""
    return dtypes()[train_dtype(request.train.dtype, device_capability(request, device), device)]


def dtype_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in dtypes().items()}.get(dtype, str(dtype))


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


def attention_kernel(model: Any) -> str | None:
    """The attention implementation the loaded model really runs (config's, or RWKV's kernel state).

    RWKV has no attention implementation to choose: transformers 5 runs its recurrence as a step-by-step
    PyTorch loop unless a CUDA kernel from the hub (`kernels-community/rwkv`, through the `kernels`
    package and ninja) loaded when the model was built, which decides its step time several-fold.
    """
    import sys

    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) == "rwkv":
        mod = sys.modules.get("transformers.models.rwkv.modeling_rwkv")
        loaded = getattr(mod, "rwkv_cuda_kernel", None) is not None
        return "rwkv hub kernel" if loaded else "rwkv pytorch loop (no kernel: needs `kernels`, ninja, hub access)"
    impl = getattr(config, "_attn_implementation", None)
    return str(impl) if impl else None


def count_params(model: Any) -> dict[str, int]:
    import torch

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


def nf4_config(dtype: torch.dtype) -> Any:
    """The team's QLoRA setting: nf4, double quantisation, compute in the run's dtype."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
