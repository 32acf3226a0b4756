"""`hf`: transformers + peft (+ bitsandbytes for nf4), trained by trl's SFTTrainer as it ships."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from harness.backends.base import Backend

if TYPE_CHECKING:
    from harness.config import RunRequest
    from harness.weights import ResolvedWeights


class HF(Backend):
    name = "hf"
    description = "plain transformers + peft + trl"
    can_merge: ClassVar[bool] = True
    preloads: ClassVar[tuple[str, ...]] = ("transformers", "datasets", "accelerate")
    memory_calibrated: ClassVar[bool] = True  # harness/memory/coefficients.yaml was fitted on plain runs
    kbit_casts_fp32: ClassVar[bool] = True  # prepare_model_for_kbit_training casts what it did not quantise

    def load(self, request: RunRequest, weights: ResolvedWeights, device: str, dtype: Any) -> tuple[Any, Any, dict]:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from harness.backends.common import nf4_config, prepare_tokenizer

        trust = request.trust_remote_code and request.candidate.trust_remote_code
        tok = AutoTokenizer.from_pretrained(str(weights.tokenizer_dir), trust_remote_code=trust)
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": trust}
        if device == "cuda":
            kwargs["device_map"] = {"": torch.cuda.current_device()}
        if request.quant == "nf4":
            kwargs["quantization_config"] = nf4_config(dtype)
        model = AutoModelForCausalLM.from_pretrained(str(weights.model_dir), **kwargs)
        if device == "cpu":
            model.to("cpu")
        info = prepare_tokenizer(tok)
        info["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
        if request.quant == "nf4":
            info["quantized_modules"] = sum(1 for m in model.modules() if m.__class__.__name__ == "Linear4bit")
        return model, tok, info

    def add_adapter(self, model: Any, request: RunRequest) -> tuple[Any, dict]:
        from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

        from harness.backends.common import count_params

        if hasattr(model, "peft_config"):
            raise RuntimeError("model already has adapters; every run starts from a fresh model")
        info: dict[str, Any] = {}
        gc = bool(request.train.gradient_checkpointing)
        if request.quant == "nf4":
            before = count_params(model)["fp32_params"]
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc)
            # it casts every parameter it does not quantise to fp32 (embeddings, norms): this decides the memory
            info["kbit_fp32_cast_params"] = count_params(model)["fp32_params"] - before
        cfg = LoraConfig(
            r=request.lora.rank,
            lora_alpha=request.lora.alpha,
            lora_dropout=request.lora.dropout,
            target_modules=request.lora.target_modules or request.candidate.lora_target_modules,
            bias=request.lora.bias,
            init_lora_weights=request.lora.init_lora_weights,
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, cfg)
        info["lora_targets"] = sorted(model.peft_config["default"].target_modules)
        return model, info
