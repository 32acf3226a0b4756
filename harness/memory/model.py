"""The memory model: predicted peaks per phase (train, generate) from a model's config and a run's settings.

    predict(config, Settings(rank=64, batch=4, seq_len=256, dtype="fp16"), gpu="T4")
        -> {"train": PredictedPeak, "generate": PredictedPeak}

Each peak is a sum of named terms, each marked by where its size comes from:
- theory: weights by dtype and quantisation, LoRA parameters and optimizer state, autocast's weight
  copies, the cuBLAS workspaces, the KV cache (counted), nf4 dequantisation;
- counted: bytes the autograd graph saves per token and layer (harness.memory.activations);
- fitted: one scale on the counted activations, the loss's backward transient per token x vocabulary,
  the generation logits per row x vocabulary, allocator slack and CUDA context
  (harness/memory/coefficients.yaml, fitted from measured runs by harness.memory.fit).

Training's peak is at the start of the backward pass: every activation is still saved, the loss's
gradients over the vocabulary are being made, the optimizer state exists (from step 2 on) and the
LoRA gradients do not yet (the trainer zeroes them with set_to_none).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from harness.backends import NAMES as BACKENDS
from harness.backends import PLAIN, REGISTRY, offloads_checkpointing
from harness.errors import UserError
from harness.memory.activations import layer_activations
from harness.memory.coefficients import Coefficients, load_coefficients
from harness.memory.gpus import GPU, MIB
from harness.memory.gpus import gpu as find_gpu
from harness.memory.shape import ALL_LINEAR, model_shape

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}
# bitsandbytes nf4 with double quantisation, block size 64: 4-bit codes, an 8-bit absmax per block of
# 64 weights and an fp32 absmax per 256 blocks (0.5 + 1/64 + 4/16384 bytes = 4.127 bits per weight).
NF4_BYTES_PER_PARAM = 0.5 + 1 / 64 + 4 / (64 * 256)
LORA_PARAM_BYTES = 4  # peft 0.21 autocast_adapter_dtype=True: adapters are fp32 even on a 16-bit base
AUTOCAST_COPY_BYTES = 2  # autocast caches a 16-bit copy of each fp32 LoRA weight during the forward
OPTIMIZER_STATE_BYTES = {
    "adamw_torch": 8,  # exp_avg and exp_avg_sq in fp32
    "adamw_torch_fused": 8,
    "adamw_hf": 8,
    "adamw_8bit": 2,
    "adamw_bnb_8bit": 2,
    "paged_adamw_8bit": 2,
    "paged_adamw_32bit": 8,
    "sgd": 0,
}
QUANTS = ("none", "nf4")
PHASES = ("train", "generate")


@dataclass(frozen=True)
class Settings:
    """What moves the peaks. seq_len: tokens of the longest row in the largest batch (padding included)."""

    rank: int = 16
    batch: int = 4
    seq_len: int = 256
    dtype: str = "bf16"
    quant: str = "none"
    backend: str = PLAIN
    gradient_checkpointing: bool | str = False  # True, False or a backend's own mode (some offload layer inputs)
    lora_dropout: float = 0.05
    optimizer: str = "adamw_torch"
    targets: tuple[str, ...] = (ALL_LINEAR,)
    gen_batch: int = 25  # answers generated at once
    prompt_len: int = 64  # tokens of the longest prompt in a generation batch
    new_tokens: int = 80

    def with_(self, **kw: Any) -> Settings:
        return replace(self, **kw)

    def check(self) -> None:
        for name in ("rank", "batch", "seq_len", "gen_batch", "prompt_len"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} is {getattr(self, name)}; give 1 or more")
        if self.dtype not in DTYPE_BYTES:
            raise UserError(f"dtype '{self.dtype}': one of {', '.join(DTYPE_BYTES)}")
        if self.quant not in QUANTS:
            raise UserError(f"quant '{self.quant}': one of {', '.join(QUANTS)}")
        if self.backend not in BACKENDS:
            raise UserError(f"backend '{self.backend}': one of {', '.join(BACKENDS)}")


@dataclass(frozen=True)
class Term:
    name: str
    mib: float
    basis: str  # theory | counted | fitted


@dataclass(frozen=True)
class PredictedPeak:
    phase: str
    gpu: str
    dtype: str
    torch_allocated_mib: float
    nvml_process_mib: float
    terms: tuple[Term, ...]  # the parts of torch allocated
    nvml_terms: tuple[Term, ...]  # allocator slack and CUDA context, on top of torch allocated
    calibrated: bool  # every setting that moves this figure was covered by the measured runs of the fit
    settings: Settings
    notes: tuple[str, ...] = field(default_factory=tuple)


def _mode(dtype: str) -> str:
    return "fp32" if dtype == "fp32" else "autocast16"


def _weights(shape: Any, s: Settings) -> list[Term]:
    db = DTYPE_BYTES[s.dtype]
    if s.quant == "none":
        return [Term(f"weights ({shape.params:,} params, {s.dtype})", shape.params * db / MIB, "theory")]
    # prepare_model_for_kbit_training casts every 16-bit parameter it did not quantise to fp32 (the backend says)
    b = REGISTRY.get(s.backend)
    other_bytes = 4 if b is not None and b.kbit_casts_fp32 else db
    return [
        Term(f"weights, nf4 ({shape.quantisable_params:,} quantised)", shape.quantisable_params * NF4_BYTES_PER_PARAM / MIB, "theory"),
        Term(f"weights kept in float ({shape.other_params:,}, {other_bytes} B each)", shape.other_params * other_bytes / MIB, "theory"),
        Term("nf4: one weight dequantised at a time", shape.largest_linear * db / MIB, "theory"),
    ]  # fmt: skip


def _notes(s: Settings, g: GPU, coef: Coefficients, phase: str, attn: str) -> tuple[bool, list[str]]:
    notes: list[str] = []
    if s.dtype == "fp16":
        notes.append("fp16: byte sizes as bf16 (same autocast path); no fp16 run measured")
    if s.dtype == "fp32":
        notes.append("fp32: no autocast; activations counted in fp32; no fp32 run measured")
    if s.quant == "nf4":
        notes.append("nf4: weights from theory; activations counted on the 16-bit model; no nf4 run measured")
    b = REGISTRY[s.backend]
    if not b.memory_calibrated:
        notes.append(f"{s.backend}: predicted with the peft+trl graph" + (", logits never held" if not b.holds_logits else "") + "; no run measured")  # fmt: skip
    if s.gradient_checkpointing and phase == "train":
        notes.append("gradient checkpointing: layer inputs + one layer recomputed, from theory; no run measured")
    if s.optimizer not in OPTIMIZER_STATE_BYTES:
        notes.append(f"optimizer {s.optimizer}: state taken as AdamW's 8 bytes per LoRA parameter")
    if attn != "sdpa":
        notes.append(f"attention '{attn}': its length^2 term counted, not measured")
    tokens = s.batch * s.seq_len
    if phase == "train" and coef.train_tokens and not min(coef.train_tokens) <= tokens <= max(coef.train_tokens):
        seen = "-".join(str(t) for t in sorted({min(coef.train_tokens), max(coef.train_tokens)}))
        notes.append(f"{tokens} tokens per batch; the fitted runs had {seen}: activations, logits and slack "
                     f"extrapolated in proportion")  # fmt: skip
    _, measured = coef.context_for(g.name, phase)
    if not measured:
        notes.append(f"CUDA context on {g.name} not measured: the measured GPUs' figure is used")
    calibrated = (
        s.dtype == "bf16"
        and s.quant == "none"
        and b.memory_calibrated
        and not s.gradient_checkpointing
        and attn == "sdpa"
    )
    return calibrated, notes


def predict(
    config: dict[str, Any], settings: Settings, gpu: str | GPU = "H100", coefficients: Coefficients | None = None
) -> dict[str, PredictedPeak]:
    """Predicted peaks per phase for a model (config.json fields, with "model_type") under `settings` on `gpu`."""
    s = settings
    s.check()
    g = gpu if isinstance(gpu, GPU) else find_gpu(gpu)
    coef = coefficients or load_coefficients()
    model_type = config.get("model_type")
    if not model_type:
        raise UserError("the model's config has no model_type; give a config.json (or a candidate name)")
    cfg = {k: v for k, v in config.items() if k != "model_type"}
    shape = model_shape(model_type, cfg, s.targets)
    acts = layer_activations(model_type, cfg, s.targets, _mode(s.dtype))
    nl, vocab, rank = shape.num_layers, shape.vocab, s.rank
    lora = shape.lora_params(rank)
    opt = OPTIMIZER_STATE_BYTES.get(s.optimizer, 8)
    ws = 2 * g.cublas_workspace_bytes() / MIB
    weights = _weights(shape, s)
    lora_param = Term(f"LoRA parameters ({lora:,}, fp32)", lora * LORA_PARAM_BYTES / MIB, "theory")
    workspace = Term("cuBLAS workspaces (forward and backward threads)", ws, "theory")
    out: dict[str, PredictedPeak] = {}

    # ---- train
    tokens = s.batch * s.seq_len
    per_layer = acts.per_token_layer_at(rank, s.lora_dropout)
    quad = s.batch * s.seq_len**2 * acts.quad_per_layer
    if not s.gradient_checkpointing:
        act = tokens * (nl * per_layer + acts.per_token_outside) + nl * quad
        act_name = f"activations ({nl} layers x {tokens} tokens)"
    else:
        kept = 0.0 if offloads_checkpointing(s.gradient_checkpointing) else tokens * nl * acts.hidden_bytes_per_token
        act = kept + tokens * (per_layer + acts.per_token_outside) + quad
        act_name = "activations (checkpointed: layer inputs + one layer)"
    train_terms = [
        *weights,
        lora_param,
        Term(f"optimizer state ({s.optimizer}, {opt} B/param)", lora * opt / MIB, "theory"),
    ]
    if s.dtype != "fp32":
        train_terms.append(Term("autocast copies of the LoRA weights", lora * AUTOCAST_COPY_BYTES / MIB, "theory"))
    train_terms.append(Term(act_name, coef.k_act * act / MIB, "fitted"))
    logits_fp32 = tokens * vocab * 4
    holds_logits = REGISTRY[s.backend].holds_logits  # a fused loss kernel never holds them
    if holds_logits:
        saved = tokens * vocab * acts.logits_saved_per_token_vocab
        train_terms.append(Term(f"loss: saved logits chain ({tokens} x {vocab:,})", saved / MIB, "counted"))
        train_terms.append(
            Term("loss: backward gradients over the vocabulary", tokens * vocab * coef.logits_transient_bytes / MIB, "fitted")
        )  # fmt: skip
    train_terms.append(workspace)
    slack_train = coef.slack_train_per_logits_byte * (logits_fp32 if holds_logits else 0.0) / MIB
    out["train"] = _peak("train", g, s, coef, train_terms, slack_train, acts.attn_implementation)

    # ---- generate (after training: the trainer and its optimizer state are gone)
    rows = s.gen_batch
    kv = (acts.kv_per_token_layer * nl * rows * (s.prompt_len + s.new_tokens) + acts.state_per_row * nl * rows) / MIB
    gen_terms = [
        *weights,
        lora_param,
        Term(f"KV cache ({rows} rows x {s.prompt_len + s.new_tokens} tokens)", kv, "counted"),
        Term(f"logits ({rows} rows x {vocab:,})", rows * vocab * coef.generate_logits_bytes / MIB, "fitted"),
        workspace,
    ]
    out["generate"] = _peak("generate", g, s, coef, gen_terms, coef.slack_generate_mib, acts.attn_implementation)
    return out


def _peak(
    phase: str, g: GPU, s: Settings, coef: Coefficients, terms: list[Term], slack_mib: float, attn: str
) -> PredictedPeak:
    alloc = sum(t.mib for t in terms)
    context, _ = coef.context_for(g.name, phase)
    nvml_terms = (Term("allocator slack (reserved - allocated)", slack_mib, "fitted"),
                  Term("CUDA context and libraries", context, "fitted"))  # fmt: skip
    calibrated, notes = _notes(s, g, coef, phase, attn)
    return PredictedPeak(
        phase=phase,
        gpu=g.name,
        dtype=s.dtype,
        torch_allocated_mib=alloc,
        nvml_process_mib=alloc + sum(t.mib for t in nvml_terms),
        terms=tuple(terms),
        nvml_terms=nvml_terms,
        calibrated=calibrated,
        settings=s,
        notes=tuple(notes),
    )


def resting_after_training_mib(config: dict[str, Any], settings: Settings, gpu: str | GPU) -> dict[str, float]:
    """torch.cuda.memory_allocated() after training with the trainer still alive (the team's T4 reading):
    weights + LoRA parameters + optimizer state + the two cuBLAS workspaces. Theory only, no fitted term."""
    s = settings
    g = gpu if isinstance(gpu, GPU) else find_gpu(gpu)
    cfg = {k: v for k, v in config.items() if k != "model_type"}
    shape = model_shape(str(config["model_type"]), cfg, s.targets)
    lora = shape.lora_params(s.rank)
    weights = sum(t.mib for t in _weights(shape, s) if not t.name.startswith("nf4: one weight"))
    parts = {
        "weights": weights,
        "lora": lora * LORA_PARAM_BYTES / MIB,
        "optimizer": lora * OPTIMIZER_STATE_BYTES.get(s.optimizer, 8) / MIB,
        "workspace": 2 * g.cublas_workspace_bytes() / MIB,
    }
    parts["total"] = sum(parts.values())
    return parts
