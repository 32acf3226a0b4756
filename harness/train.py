"""LoRA fine-tuning through trl's SFTTrainer, every argument explicit, every step timed.

trl 1.14.2's SFTConfig hides defaults that decide the figures (gradient_checkpointing=True,
bf16=True, loss_type="chunked_nll", logging every 10 steps, saving checkpoints): each is set here
from the request, and `read_effective` reads back what the trainer really used.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from harness import faults
from harness.config import RunRequest
from harness.result import Effective, StepTimes


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step, synchronised with the GPU before each clock read."""

    def __init__(self, cuda: bool, label: str = "") -> None:
        self.cuda = cuda
        self.label = label
        self.times: list[float] = []
        self._t0: float | None = None

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._sync()
        self._t0 = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._sync()
        if self._t0 is not None:
            self.times.append(time.perf_counter() - self._t0)
        faults.hit(f"step:{state.global_step}", self.label)


def expected_steps(n_rows: int, request: RunRequest) -> int:
    t = request.train
    if t.max_steps:
        return t.max_steps
    per_epoch = max(1, math.ceil(n_rows / t.batch_size) // t.grad_accum)
    return math.ceil(t.epochs * per_epoch)


def sft_config(request: RunRequest, out_dir: Path, device: str, dtype: torch.dtype) -> Any:
    from trl import SFTConfig

    t = request.train
    gc = t.gradient_checkpointing
    return SFTConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=t.weight_decay,
        optim=t.optimizer,
        max_length=t.max_length,
        # Unsloth's "unsloth" checkpointing is set on the model by get_peft_model; the trainer must not add its own.
        gradient_checkpointing=(gc is True),
        gradient_checkpointing_kwargs={"use_reentrant": False} if gc is True else None,
        bf16=(dtype == torch.bfloat16),
        fp16=(dtype == torch.float16),
        use_cpu=(device == "cpu"),
        completion_only_loss=True,
        loss_type=t.loss_type,
        packing=False,
        padding_free=False,
        pad_to_multiple_of=t.pad_to_multiple_of,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=1,
        logging_strategy="steps",
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
        shuffle_dataset=False,
        activation_offloading=False,
        use_liger_kernel=False,
        torch_compile=False,
    )


def build_trainer(
    model: Any, tokenizer: Any, rows: list[dict[str, str]], request: RunRequest, out_dir: Path, device: str,
    dtype: torch.dtype, timer: StepTimer,
) -> Any:  # fmt: skip
    from datasets import Dataset
    from trl import SFTTrainer

    ds = Dataset.from_list(rows)  # {"prompt", "completion"}: loss on the completion only
    return SFTTrainer(
        model=model,
        args=sft_config(request, out_dir, device, dtype),
        train_dataset=ds,
        processing_class=tokenizer,
        callbacks=[timer],
    )


def step_stats(times: list[float], burn_in: int) -> StepTimes:
    steady = sorted(times[burn_in:])

    def pct(q: float) -> float | None:
        if not steady:
            return None
        return steady[min(len(steady) - 1, max(0, math.ceil(q * len(steady)) - 1))]

    return StepTimes(
        times_s=times,
        burn_in_steps=min(burn_in, len(times)),
        burn_in_s=sum(times[:burn_in]) if times else None,
        steady_mean_s=sum(steady) / len(steady) if steady else None,
        steady_p50_s=pct(0.5),
        steady_p90_s=pct(0.9),
        steady_p99_s=pct(0.99),
    )


def loss_curve(trainer: Any) -> list[tuple[int, float]]:
    return [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h and "step" in h]


def read_effective(trainer: Any, request: RunRequest, n_rows: int, extra: dict[str, Any]) -> Effective:
    """What the trainer really used, and every difference from the request."""
    a = trainer.args
    world = getattr(a, "world_size", 1) or 1
    model = trainer.model
    gc_model = bool(getattr(model, "is_gradient_checkpointing", False))
    gc_req = request.train.gradient_checkpointing
    eff = Effective(
        global_steps=int(trainer.state.global_step),
        per_device_batch=int(a.per_device_train_batch_size),
        grad_accum=int(a.gradient_accumulation_steps),
        effective_batch=int(a.per_device_train_batch_size * a.gradient_accumulation_steps * world),
        epochs=float(trainer.state.epoch) if trainer.state.epoch is not None else None,
        gradient_checkpointing=(gc_req if gc_req == "unsloth" else gc_model or bool(a.gradient_checkpointing)),
        optimizer=str(getattr(a.optim, "value", a.optim)),
        lr_scheduler=str(getattr(a.lr_scheduler_type, "value", a.lr_scheduler_type)),
        learning_rate=float(a.learning_rate),
        max_length=getattr(a, "max_length", None),
        padding="longest in batch" + (f", multiple of {a.pad_to_multiple_of}" if a.pad_to_multiple_of else ""),
        packing=bool(getattr(a, "packing", False)),
        padding_free=bool(getattr(a, "padding_free", False)),
        completion_only_loss=getattr(a, "completion_only_loss", None),
        loss_type=getattr(a, "loss_type", None),
        lora_rank=request.lora.rank,
        lora_alpha=request.lora.alpha,
        lora_dropout=request.lora.dropout,
        **extra,
    )
    want = {
        "global_steps": expected_steps(n_rows, request),
        "grad_accum": request.train.grad_accum,
        "effective_batch": request.train.batch_size * request.train.grad_accum,
        "per_device_batch": request.train.batch_size,
        "packing": False,
        "padding_free": False,
    }
    for k, v in want.items():
        got = getattr(eff, k)
        if got != v:
            eff.mismatches.append(f"{k}: requested {v}, trainer used {got}")
    if gc_req != "unsloth" and bool(eff.gradient_checkpointing) != bool(gc_req):
        eff.mismatches.append(f"gradient_checkpointing: requested {gc_req}, model has {eff.gradient_checkpointing}")
    peft_cfg = getattr(model, "peft_config", {}).get("default")
    if peft_cfg is not None:
        if peft_cfg.r != request.lora.rank:
            eff.mismatches.append(f"lora rank: requested {request.lora.rank}, adapter has {peft_cfg.r}")
        if peft_cfg.lora_alpha != request.lora.alpha:
            eff.mismatches.append(f"lora alpha: requested {request.lora.alpha}, adapter has {peft_cfg.lora_alpha}")
    return eff
