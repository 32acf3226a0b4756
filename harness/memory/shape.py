"""What a model's config fixes about memory: parameter counts, LoRA shapes, layers, vocabulary.

The model is built on the meta device from its config (no weights, no memory), so every count is
the one transformers and peft will really use, for any architecture, not a per-family formula:
- parameters: unique tensors (tied embeddings once), split into those bitsandbytes would quantise
  (the weights of nn.Linear modules other than the output embedding) and the rest;
- LoRA: for each target module (matched as peft matches: the name equals the entry or ends with
  "." + entry; "all-linear" = every nn.Linear but the output layer), A is r x in and B is out x r,
  so a module adds r * (in + out) parameters.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass
from typing import Any

from harness.errors import UserError

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class ModelShape:
    model_type: str
    params: int  # unique parameters (tied embeddings counted once)
    quantisable_params: int  # weights of nn.Linear modules except the output layer (what nf4 packs)
    other_params: int  # embeddings, norms, biases, an untied output layer: kept in a float dtype
    num_layers: int
    hidden: int
    vocab: int
    lora_per_rank: int  # sum of (in + out) over the LoRA target modules: LoRA params = rank x this
    lora_modules: int
    lora_in_features: int  # sum of in_features over the target modules (dropout masks, one byte each)
    largest_linear: int  # parameters of the largest quantisable weight (nf4 dequantises one at a time)
    targets: tuple[str, ...]

    def lora_params(self, rank: int) -> int:
        return rank * self.lora_per_rank


def _matches(name: str, targets: tuple[str, ...]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def config_key(model_type: str, config: dict[str, Any]) -> str:
    return json.dumps({"model_type": model_type, "config": config}, sort_keys=True, default=str)


def build_config(model_type: str, config: dict[str, Any], **override: Any) -> Any:
    """A transformers config from a config.json-style dict (shape_config or a loaded config's to_dict())."""
    from transformers import AutoConfig

    # a deep copy: transformers writes into the nested dicts it is given (rope_scaling), and `config` may be a
    # stored request's candidate
    raw = copy.deepcopy({k: v for k, v in config.items() if k not in ("model_type", "architectures",
                                                                      "transformers_version")})  # fmt: skip
    raw.update(override)
    if "num_hidden_layers" in override and isinstance(raw.get("layer_types"), list):
        raw["layer_types"] = raw["layer_types"][: override["num_hidden_layers"]]
    try:
        return AutoConfig.for_model(model_type, **raw)
    except Exception as e:  # an unknown model_type or a config transformers rejects
        raise UserError(f"model_type '{model_type}': transformers cannot build this config ({e})") from None


def _output_layer_name(model: Any) -> str | None:
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if out is None:
        return None
    for name, mod in model.named_modules():
        if mod is out:
            return name
    return None


@functools.lru_cache(maxsize=64)
def _shape_cached(key: str, targets: tuple[str, ...]) -> ModelShape:
    from harness.memory.cache import cached

    def load(**saved: Any) -> ModelShape:
        return ModelShape(**{**saved, "targets": tuple(saved["targets"])})

    return cached("shape", [key, targets], lambda: _build_shape(key, targets), load)


def _build_shape(key: str, targets: tuple[str, ...]) -> ModelShape:
    import torch
    from transformers import AutoModelForCausalLM

    spec = json.loads(key)
    cfg = build_config(spec["model_type"], spec["config"])
    try:
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(cfg)
    except Exception as e:
        raise UserError(f"model_type '{spec['model_type']}': cannot build it from its config ({e})") from None
    out_name = _output_layer_name(model)
    out_mod = model.get_output_embeddings() if out_name is not None else None
    out_weight = getattr(out_mod, "weight", None)

    seen: set[int] = set()
    params = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            params += p.numel()
    quantisable = largest = 0
    lora_per_rank = lora_modules = lora_in = 0
    all_linear = ALL_LINEAR in targets
    qseen: set[int] = set()
    for name, mod in model.named_modules():
        if not isinstance(mod, torch.nn.Linear):
            continue
        is_output = mod is out_mod or (out_weight is not None and mod.weight is out_weight)
        if not is_output and id(mod.weight) not in qseen:
            qseen.add(id(mod.weight))
            quantisable += mod.weight.numel()
            largest = max(largest, mod.weight.numel())
        if (all_linear and not is_output) or _matches(name, targets):
            lora_per_rank += mod.in_features + mod.out_features
            lora_modules += 1
            lora_in += mod.in_features
    if lora_modules == 0:
        raise UserError(
            f"LoRA targets {list(targets)} match no nn.Linear module of model_type '{spec['model_type']}'; "
            f"give --targets with its projection names (or all-linear)"
        )
    text_cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return ModelShape(
        model_type=spec["model_type"],
        params=params,
        quantisable_params=quantisable,
        other_params=params - quantisable,
        num_layers=int(text_cfg.num_hidden_layers),
        hidden=int(text_cfg.hidden_size),
        vocab=int(text_cfg.vocab_size),
        lora_per_rank=lora_per_rank,
        lora_modules=lora_modules,
        lora_in_features=lora_in,
        largest_linear=largest,
        targets=targets,
    )


def model_shape(model_type: str, config: dict[str, Any], targets: tuple[str, ...] | list[str]) -> ModelShape:
    """The shape of `model_type` built from `config` (config.json fields), with LoRA on `targets`."""
    return _shape_cached(config_key(model_type, config), tuple(targets))
