"""Activation bytes per token and layer, counted from the autograd graph the libraries really build.

Theory gives the shape of the activation term (it grows with tokens x layers) but not its size: that
depends on which tensors each op of this transformers / peft / torch version saves for backward.
So we count them. A copy of the model with two decoder layers at full width (vocabulary cut to a
few hundred, the logits are modelled apart) is built on the CPU, wrapped with LoRA, and run forward
at three sequence lengths under `torch.autograd.graph.saved_tensors_hooks`; every saved storage is
counted once and attributed to the layer that saved it. Solving bytes(T) = a + b*tokens + c*rows*T^2
per layer separates the constant part (autocast's bf16 copies of the fp32 LoRA weights), the part
per token and the part quadratic in length (eager attention only).

Where the CPU run differs from a CUDA run, theory corrects it (each correction is named):
- dropout: the CPU saves a mask in the input's dtype, CUDA a bool mask (1 byte). We count with
  LoRA dropout off and add one byte per element of every target module's input when dropout > 0.
- LayerNorm under CUDA autocast runs in fp32 and saves an fp32 copy of its input per module; CPU
  autocast keeps it bf16. We replace the counted LayerNorm inputs with 4 bytes per element per call.
- rank: counted at rank 16; each target module saves its rank-r intermediate per token, so a
  different rank adds (r - 16) x modules x dtype bytes per token and layer.

What the count is still not: the allocator's peak. Backward transients, the loss and the
allocator's rounding come on top; `harness.memory.fit` fits one scale (k_act) over the counted
bytes from measured GPU runs.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from harness.memory.cache import cached, versions
from harness.memory.shape import build_config, config_key

INSTRUMENT_RANK = 16
INSTRUMENT_VOCAB = 509  # prime, so no hidden dimension equals it; the logits are modelled apart
INSTRUMENT_LENGTHS = (8, 16, 32)
INSTRUMENT_ROWS = 2  # the second row is padded at the end, as in a batch padded to its longest row
MODES = ("autocast16", "fp32")
COUNT_VERSION = 2  # part of the cache key: bump when the counting changes


@dataclass(frozen=True)
class LayerActivations:
    """Counted bytes for one model, compute mode and LoRA target set (rank 16, dropout off)."""

    mode: str
    attn_implementation: str
    per_token_layer: float  # bytes saved per token per decoder layer, CUDA-equivalent
    per_token_outside: float  # bytes per token saved outside the layers (embedding, final norm)
    logits_saved_per_token_vocab: float  # bytes per token x vocabulary entry the loss's chain saves
    quad_per_layer: float  # bytes per row x length^2 per layer (eager attention's probabilities)
    weight_cast_per_layer: float  # constant bytes per layer: autocast copies of the LoRA weights
    layernorm_correction_per_token_layer: float  # included in per_token_layer (CUDA fp32 LayerNorm inputs)
    lora_modules_per_layer: float
    lora_in_features_per_layer: float
    kv_per_token_layer: float  # bytes of the generation cache per token per layer (K and V)
    state_per_row: float  # bytes of a fixed-size generation state per row (recurrent models), 0 otherwise
    hidden_bytes_per_token: float  # one hidden state per token: what checkpointing keeps per layer
    source: str  # library versions that produced the count

    def per_token_layer_at(self, rank: int, dropout: float) -> float:
        """Saved bytes per token and layer at `rank`, with a bool dropout mask when dropout > 0."""
        dtype_bytes = 4 if self.mode == "fp32" else 2
        extra_rank = (rank - INSTRUMENT_RANK) * self.lora_modules_per_layer * dtype_bytes
        mask = self.lora_in_features_per_layer if dropout > 0 else 0.0
        return self.per_token_layer + extra_rank + mask


def _decoder_layers(model: Any, n: int) -> list[Any]:
    import torch

    for mod in model.modules():
        if isinstance(mod, torch.nn.ModuleList) and len(mod) == n and any(True for _ in mod[0].parameters()):
            return list(mod)
    raise RuntimeError("no list of decoder layers found")


def _storages(obj: Any, out: dict[int, int], depth: int = 0) -> None:
    """Bytes of every tensor storage reachable from a cache object (lists, dicts, attributes)."""
    import torch

    if depth > 4 or obj is None:
        return
    if isinstance(obj, torch.Tensor):
        s = obj.untyped_storage()
        out[s.data_ptr()] = s.nbytes()
    elif isinstance(obj, list | tuple):
        for x in obj:
            _storages(x, out, depth + 1)
    elif isinstance(obj, dict):
        for x in obj.values():
            _storages(x, out, depth + 1)
    elif hasattr(obj, "__dict__") and not isinstance(obj, type):
        for x in vars(obj).values():
            _storages(x, out, depth + 1)


def _build(model_type: str, config: dict[str, Any], targets: tuple[str, ...], mode: str) -> tuple[Any, int, str]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    n_layers = 2 if int(config.get("num_hidden_layers", 2)) >= 2 else 1
    small = {"num_hidden_layers": n_layers, "vocab_size": INSTRUMENT_VOCAB, "pad_token_id": 0}
    dtype = torch.float32 if mode == "fp32" else torch.bfloat16
    torch.manual_seed(0)
    try:  # what transformers picks on a GPU for the architectures that have it
        model = AutoModelForCausalLM.from_config(build_config(model_type, config, **small), dtype=dtype,
                                                 attn_implementation="sdpa")  # fmt: skip
    except ValueError:  # no sdpa for this architecture: its own attention (eager), on a fresh config
        model = AutoModelForCausalLM.from_config(build_config(model_type, config, **small), dtype=dtype)
    impl = str(getattr(model.config, "_attn_implementation", None) or "default")
    if "all-linear" in targets:
        lora_targets: Any = "all-linear"
    else:
        lora_targets = list(targets)
    lcfg = LoraConfig(r=INSTRUMENT_RANK, lora_alpha=16, lora_dropout=0.0, target_modules=lora_targets)
    model = get_peft_model(model, lcfg)
    model.train()
    return model, n_layers, impl


def _count(
    model: Any, n_layers: int, mode: str, length: int
) -> tuple[list[float], float, list[float], list[float], float]:
    """Saved bytes per layer, outside the layers, LayerNorm inputs (as counted, as CUDA saves them), logits chain."""
    import torch

    layers = _decoder_layers(model, n_layers)
    current: list[int | None] = [None]
    hooks = []
    for i, layer in enumerate(layers):
        hooks.append(layer.register_forward_pre_hook(lambda m, a, i=i: current.__setitem__(0, i)))
        hooks.append(layer.register_forward_hook(lambda m, a, o: current.__setitem__(0, None)))
    ln_inputs: dict[int, tuple[int, int]] = {}  # storage -> (layer, numel)
    held: list[Any] = []  # LayerNorm inputs and saved tensors, held so no freed address is reused meanwhile
    ln_cuda = [0.0] * n_layers
    if mode == "autocast16":

        def ln_hook(m: Any, args: Any) -> None:
            x = args[0]
            if current[0] is not None and isinstance(x, torch.Tensor):
                ln_inputs[x.untyped_storage().data_ptr()] = (current[0], x.numel())
                held.append(x)
                ln_cuda[current[0]] += 4.0 * x.numel()

        for layer in layers:
            for mod in layer.modules():
                if isinstance(mod, torch.nn.LayerNorm):
                    hooks.append(mod.register_forward_pre_hook(ln_hook))
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, tuple[int, int | None]] = {}
    logits: dict[int, int] = {}  # tensors over the vocabulary: the loss's chain (softcap, fp32 upcast, log-softmax)

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        ptr = s.data_ptr()
        if not ptr or ptr in params or ptr in saved or ptr in logits:
            return t
        held.append(t)
        if t.dim() and t.shape[-1] == INSTRUMENT_VOCAB:
            logits[ptr] = s.nbytes()
        else:
            saved[ptr] = (s.nbytes(), current[0])
        return t

    ids = torch.randint(1, INSTRUMENT_VOCAB, (INSTRUMENT_ROWS, length))
    mask = torch.ones_like(ids)
    mask[1, -2:] = 0
    labels = ids.masked_fill(mask == 0, -100)
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if mode == "autocast16" else torch.autocast("cpu", enabled=False)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), ctx:
            out = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False)
    finally:
        for h in hooks:
            h.remove()
    per_layer = [0.0] * n_layers
    outside = 0.0
    ln_cpu = [0.0] * n_layers
    for ptr, (nbytes, layer) in saved.items():
        if layer is None:
            outside += nbytes
        else:
            per_layer[layer] += nbytes
            if ptr in ln_inputs:
                ln_cpu[layer] += nbytes
    del out
    return per_layer, outside, ln_cpu, ln_cuda, float(sum(logits.values()))


def _kv(model: Any, n_layers: int, mode: str) -> tuple[float, float]:
    """Generation cache bytes per token and layer, and a fixed state per row (recurrent models)."""
    import torch

    sizes = {}
    for length in (8, 16):
        ids = torch.randint(1, INSTRUMENT_VOCAB, (1, length))
        with torch.no_grad():
            out = model(input_ids=ids, use_cache=True)
        found: dict[int, int] = {}
        _storages(getattr(out, "past_key_values", None), found)
        _storages(getattr(out, "state", None), found)
        sizes[length] = float(sum(found.values()))
    per_token = (sizes[16] - sizes[8]) / 8 / n_layers
    fixed = max(0.0, sizes[8] - per_token * 8 * n_layers)
    return per_token, fixed / n_layers


def _solve(lengths: tuple[int, ...], values: list[float]) -> tuple[float, float, float]:
    """bytes(T) = a + b * rows*T + c * rows*T^2, exact through three lengths."""
    import numpy as np

    rows = INSTRUMENT_ROWS
    a = np.array([[1.0, rows * t, rows * t * t] for t in lengths])
    sol = np.linalg.solve(a, np.array(values))
    return float(sol[0]), float(sol[1]), float(sol[2])


def _instrument(model_type: str, config: dict[str, Any], targets: tuple[str, ...], mode: str) -> LayerActivations:
    import torch

    with torch.inference_mode(False):
        model, n_layers, impl = _build(model_type, config, targets, mode)
        counts = [_count(model, n_layers, mode, t) for t in INSTRUMENT_LENGTHS]
        kv, state = _kv(model, n_layers, mode)
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    layer_vals = [mean(c[0]) for c in counts]
    a, b, c = _solve(INSTRUMENT_LENGTHS, layer_vals)
    ln_cpu = [mean(x[2]) for x in counts]
    ln_cuda = [mean(x[3]) for x in counts]
    _, ln_b_cpu, _ = _solve(INSTRUMENT_LENGTHS, ln_cpu)
    _, ln_b_cuda, _ = _solve(INSTRUMENT_LENGTHS, ln_cuda)
    _, out_b, _ = _solve(INSTRUMENT_LENGTHS, [x[1] for x in counts])
    _, logit_b, _ = _solve(INSTRUMENT_LENGTHS, [x[4] for x in counts])
    layers = _decoder_layers(model, n_layers)
    from peft.tuners.lora import LoraLayer

    lora_mods = [m for layer in layers for m in layer.modules() if isinstance(m, LoraLayer)]
    in_features = sum(m.in_features for m in lora_mods)
    hidden = int(getattr(model.config, "hidden_size", 0) or 0)
    dtype_bytes = 4 if mode == "fp32" else 2
    return LayerActivations(
        mode=mode,
        attn_implementation=impl,
        per_token_layer=b - ln_b_cpu + ln_b_cuda,
        per_token_outside=max(0.0, out_b),
        logits_saved_per_token_vocab=max(0.0, logit_b) / INSTRUMENT_VOCAB,
        quad_per_layer=max(0.0, c),
        weight_cast_per_layer=max(0.0, a),
        layernorm_correction_per_token_layer=ln_b_cuda - ln_b_cpu,
        lora_modules_per_layer=len(lora_mods) / n_layers,
        lora_in_features_per_layer=in_features / n_layers,
        kv_per_token_layer=kv,
        state_per_row=state,
        hidden_bytes_per_token=float(hidden * dtype_bytes),
        source=f"counted on the CPU by harness.memory.activations ({versions()})",
    )


@functools.lru_cache(maxsize=64)
def _cached(key: str, targets: tuple[str, ...], mode: str) -> LayerActivations:
    spec = json.loads(key)
    return cached(
        "act",
        [key, targets, mode, COUNT_VERSION],
        lambda: _instrument(spec["model_type"], spec["config"], targets, mode),
        LayerActivations,
    )


def layer_activations(
    model_type: str, config: dict[str, Any], targets: tuple[str, ...] | list[str], mode: str
) -> LayerActivations:
    """Counted activation bytes for a model (config.json fields) with LoRA on `targets`; cached on disk."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {MODES}")
    return _cached(config_key(model_type, config), tuple(targets), mode)
