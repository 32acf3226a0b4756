"""What the trainer really used, read back from the live trainer, model, dataloader and optimizer.

Every setting a run records under `effective` comes from here, not from the request: steps, effective batch,
accumulation, checkpointing, parameter dtypes, the optimizer the trainer built, padding and the loss; a
difference from the request is a mismatch (the run ends `mismatch`). Child side: imports torch.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from harness.child.train import StepTimer, expected_steps, loss_scaler
from harness.config import RunRequest
from harness.result import Effective

DTYPE_NAMES = {torch.bfloat16: "bf16", torch.float16: "fp16", torch.float32: "fp32"}


def _dtype_name(dtype: torch.dtype) -> str:
    return DTYPE_NAMES.get(dtype, str(dtype).removeprefix("torch."))


def param_dtypes(model: Any) -> tuple[dict[str, int], dict[str, int]]:
    """Parameters per dtype, (trainable, frozen). bitsandbytes 4-bit weights count as 'nf4' (or their
    quant type), with their unpacked size."""
    trainable: dict[str, int] = {}
    frozen: dict[str, int] = {}
    seen: set[int] = set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        qs = getattr(p, "quant_state", None)
        if qs is not None and hasattr(qs, "shape"):
            name, n = str(getattr(qs, "quant_type", "nf4")), torch.Size(qs.shape).numel()
        else:
            name, n = _dtype_name(p.dtype), p.numel()
        into = trainable if p.requires_grad else frozen
        into[name] = into.get(name, 0) + n
    return trainable, frozen


def compute_dtype(model: Any, frozen: dict[str, int]) -> str | None:
    """The dtype the frozen base computes in: 4-bit layers' compute dtype, else the frozen floats' main dtype."""
    quant = [m.compute_dtype for m in model.modules() if getattr(m, "compute_dtype", None) is not None
             and m.__class__.__name__ in ("Linear4bit", "Linear8bitLt")]  # fmt: skip
    if quant:
        return _dtype_name(max(set(quant), key=quant.count))
    floats = {k: v for k, v in frozen.items() if k in DTYPE_NAMES.values()}
    return max(floats, key=lambda k: floats[k]) if floats else None


def _inner_optimizer(trainer: Any) -> Any:
    opt = trainer.optimizer
    return getattr(opt, "optimizer", opt)  # accelerate's AcceleratedOptimizer wraps the one built


def _qualname(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def requested_optimizer(trainer: Any, name: str) -> tuple[type | None, dict[str, Any]]:
    """The optimizer class (and kwargs) transformers builds for the optimizer name `name`; (None, {}) when
    transformers cannot say here (e.g. bitsandbytes missing)."""
    import copy

    from transformers import Trainer
    from transformers.training_args import OptimizerNames

    a = copy.copy(trainer.args)
    try:
        a.optim = OptimizerNames(name)
        cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(a, trainer.model)
    except Exception:
        return None, {}
    return cls, kwargs


def checkpointing_in_use(model: Any) -> bool | str:
    """Whether the model's layers checkpoint (transformers' `is_gradient_checkpointing`), or the backend's own mode
    when one of them reads it back from the model (`Backend.checkpointing_read_back`)."""
    from harness.backends import REGISTRY

    on = bool(getattr(model, "is_gradient_checkpointing", False))
    if on:
        for b in REGISTRY.values():
            mode = b.checkpointing_read_back(model)
            if mode:
                return mode
    return on


def loss_type_in_use(trainer: Any) -> str:
    """trl's chunked_nll patches the causal LM's forward; dft replaces the loss function; else plain nll."""
    model = trainer.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    fwd = getattr(base.forward, "__func__", base.forward)
    if getattr(fwd, "__name__", "") == "_chunked_ce_forward":
        return "chunked_nll"
    fn = getattr(trainer, "compute_loss_func", None)
    if fn is not None and getattr(fn, "__name__", "") == "dft_loss":
        return "dft"
    return "nll"


def _loader_batch(trainer: Any) -> int | None:
    dl = trainer.get_train_dataloader()
    bs = getattr(dl, "batch_size", None)
    if bs is None:  # accelerate's DataLoaderShard keeps it on its batch sampler
        bs = getattr(getattr(dl, "batch_sampler", None), "batch_size", None)
    return int(bs) if bs is not None else None


def _dataset_facts(trainer: Any) -> dict[str, Any]:
    """From the tokenised training set: packing, completion-only labels, the longest row."""
    ds = trainer.train_dataset
    cols = set(getattr(ds, "column_names", None) or [])
    facts: dict[str, Any] = {"packing": "seq_lengths" in cols, "rows": len(ds) if hasattr(ds, "__len__") else None}
    if "labels" in cols and facts["rows"]:
        head = ds.select(range(min(8, facts["rows"])))["labels"]
        facts["completion_only_loss"] = any(-100 in row for row in head)
    if "input_ids" in cols and facts["rows"]:
        facts["longest"] = max(len(x) for x in ds["input_ids"])
    return facts


def read_effective(trainer: Any, request: RunRequest, n_rows: int, extra: dict[str, Any]) -> Effective:
    """What the trainer really used, read from the real objects (model, dataloader, optimizer, data collator,
    tokenised data, state), and every difference from the request. `extra` adds what the backend reported
    (adapter targets, the backend's own load facts) and the run's resolved `dtype` (the request); figures read here win."""
    t = request.train
    model = trainer.model
    world = getattr(trainer.args, "world_size", 1) or 1
    timer = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, StepTimer)), None)
    micro = timer.micro_batches if timer is not None else []
    grad_accum = max(micro) if micro else int(trainer.args.gradient_accumulation_steps)
    batch = _loader_batch(trainer)
    trainable, frozen = param_dtypes(model)
    inner = _inner_optimizer(trainer) if trainer.optimizer is not None else None
    group = inner.param_groups[0] if inner is not None else {}
    collator = trainer.data_collator
    pad_multiple = getattr(collator, "pad_to_multiple_of", None)
    padding_free = getattr(collator, "padding_free", None)
    facts = _dataset_facts(trainer)
    gc_on = checkpointing_in_use(model)
    gc_req = t.gradient_checkpointing
    sched = trainer.args.lr_scheduler_type
    read: dict[str, Any] = {
        "global_steps": int(trainer.state.global_step),
        "per_device_batch": batch,
        "grad_accum": grad_accum,
        "effective_batch": batch * grad_accum * world if batch is not None else None,
        "epochs": float(trainer.state.epoch) if trainer.state.epoch is not None else None,
        "gradient_checkpointing": gc_on,
        "dtype": compute_dtype(model, frozen),
        "trainable_dtype": max(trainable, key=lambda k: trainable[k]) if trainable else None,
        "frozen_dtypes": frozen or None,
        "optimizer": _qualname(inner) if inner is not None else None,
        "lr_scheduler": str(getattr(sched, "value", sched)),
        "learning_rate": float(group.get("initial_lr", group.get("lr"))) if group else None,
        "max_length": getattr(trainer.args, "max_length", None),
        "padding": ("none (padding-free)" if padding_free else "longest in batch")
        + (f", multiple of {pad_multiple}" if pad_multiple else ""),
        "packing": facts["packing"],
        "padding_free": bool(padding_free),
        "completion_only_loss": facts.get("completion_only_loss"),
        "loss_type": loss_type_in_use(trainer),
        "loss_scaler": loss_scaler(trainer),
    }
    peft_cfg = getattr(model, "peft_config", {}).get("default")
    read["lora_rank"] = peft_cfg.r if peft_cfg is not None else None
    read["lora_alpha"] = peft_cfg.lora_alpha if peft_cfg is not None else None
    read["lora_dropout"] = peft_cfg.lora_dropout if peft_cfg is not None else None
    eff = Effective(**{**extra, **read})
    mm = eff.mismatches

    steps = expected_steps(n_rows, request, world)
    if eff.global_steps != steps:
        kept = (
            f" (the trainer kept {facts['rows']} of {n_rows} rows)" if facts.get("rows") not in (None, n_rows) else ""
        )
        mm.append(f"global_steps: requested {steps}, trainer used {eff.global_steps}{kept}")
    for key, want in (("per_device_batch", t.batch_size), ("grad_accum", t.grad_accum),
                      ("effective_batch", t.batch_size * t.grad_accum), ("packing", False), ("padding_free", False),
                      ("completion_only_loss", True), ("loss_type", t.loss_type)):  # fmt: skip
        got = getattr(eff, key)
        if got is not None and got != want:
            mm.append(f"{key}: requested {want}, trainer used {got}")
    if gc_on != gc_req:
        mm.append(f"gradient_checkpointing: requested {gc_req}, model has {gc_on}")
    want_dtype = extra.get("dtype") or (t.dtype if t.dtype != "auto" else None)  # the run's resolved dtype
    if want_dtype and eff.dtype is not None and eff.dtype != want_dtype:
        mm.append(f"dtype: requested {want_dtype}, base weights compute in {eff.dtype}")
    if want_dtype == "fp16" and eff.loss_scaler is None:
        mm.append("loss_scaler: fp16 training needs one, the trainer has none")
    if inner is not None:
        cls, kwargs = requested_optimizer(trainer, t.optimizer)
        if cls is not None and not isinstance(inner, cls):
            mm.append(f"optimizer: requested {t.optimizer} ({_qualname(cls)}), trainer built {eff.optimizer}")
        for k in ("fused", "optim_bits", "is_paged"):
            got = group.get(k, getattr(getattr(inner, "args", None), k, None))
            if k in kwargs and got is not None and got != kwargs[k]:
                mm.append(f"optimizer {k}: requested {kwargs[k]}, optimizer has {got}")
    if eff.learning_rate is not None and not math.isclose(eff.learning_rate, t.learning_rate, rel_tol=1e-6):
        mm.append(f"learning_rate: requested {t.learning_rate}, optimizer has {eff.learning_rate:g}")
    longest = facts.get("longest")
    if longest is not None and longest > t.max_length:
        mm.append(f"max_length: requested {t.max_length}, a training row has {longest} tokens")
    if peft_cfg is not None:
        lora = request.lora
        for key, want, got in (("rank", lora.rank, peft_cfg.r), ("alpha", lora.alpha, peft_cfg.lora_alpha),
                               ("dropout", lora.dropout, peft_cfg.lora_dropout)):  # fmt: skip
            if got != want:
                mm.append(f"lora {key}: requested {want}, adapter has {got}")
    return eff
