"""LoRA fine-tuning through trl's SFTTrainer, every argument explicit, every step timed.

trl 1.14.2's SFTConfig hides defaults that decide the figures (gradient_checkpointing=True,
bf16=True, loss_type="chunked_nll", logging every 10 steps, saving checkpoints): each is set here
from the request, and `read_effective` reads back what the trainer really used.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from harness import faults
from harness.backends import TRAINER_SWITCHES_OFF
from harness.config import RunRequest
from harness.result import StepTimes


class StepTimer(TrainerCallback):
    """Wall time of each optimizer step, synchronised with the GPU before each clock read.

    It also counts the micro-batches each optimizer step really took (the trainer calls
    `on_substep_end` after every micro-batch but the last of a step): the accumulation that ran.
    Once it `watch`es the trainer, it records each step's token shape (batch x padded length of each
    micro-batch): a step that meets a shape for the first time pays for new kernels and plans.
    """

    def __init__(self, cuda: bool, label: str = "") -> None:
        self.cuda = cuda
        self.label = label
        self.times: list[float] = []
        self.micro_batches: list[int] = []  # per optimizer step
        self.shapes: list[str] = []  # per optimizer step: "BxL" of each micro-batch, joined by "+"
        self._t0: float | None = None
        self._subs = 0
        self._step_shapes: list[str] = []

    def watch(self, trainer: Any) -> None:
        """Record the token shape of every micro-batch `trainer` trains on. The trainer calls its own
        `training_step` once per micro-batch, with the padded batch, between on_step_begin and on_step_end."""
        inner = trainer.training_step

        def training_step(model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            self._step_shapes.append(token_shape(inputs))
            return inner(model, inputs, *args, **kwargs)

        trainer.training_step = training_step

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._sync()
        self._subs = 0
        self._step_shapes = []
        self._t0 = time.perf_counter()

    def on_substep_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._subs += 1

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self._sync()
        if self._t0 is not None:
            self.times.append(time.perf_counter() - self._t0)
        self.micro_batches.append(self._subs + 1)
        self.shapes.append("+".join(self._step_shapes))
        faults.hit(f"step:{state.global_step}", self.label)


class DivergenceGuard(TrainerCallback):
    """Stops training at the first logged loss that is inf or NaN (fp16 overflow, a learning rate too high):
    the run ends `diverged` at that step instead of `ok` with a meaningless curve. Needs every step logged
    and the trainer's nan/inf filter off (sft_config sets both)."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.loss: float | None = None

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
        loss = (logs or {}).get("loss")
        if self.step is None and isinstance(loss, int | float) and not math.isfinite(loss):
            self.step, self.loss = int(state.global_step), float(loss)
            control.should_training_stop = True

    @property
    def reason(self) -> str | None:
        return None if self.step is None else f"loss became {self.loss} at step {self.step}; training stopped there"


def token_shape(inputs: Any) -> str:
    """'BxL' of a micro-batch: its input_ids (else its first 2-D tensor), batch x padded length; '?' if none."""
    values = [inputs.get("input_ids"), *inputs.values()] if isinstance(inputs, Mapping) else []
    for v in values:
        shape = getattr(v, "shape", None)
        if shape is not None and len(shape) == 2:
            return f"{int(shape[0])}x{int(shape[1])}"
    return "?"


def expected_steps(n_rows: int, request: RunRequest, world: int = 1) -> int:
    """Optimizer steps transformers 5.17's Trainer runs (`set_initial_training_values`).

    An epoch is ceil(rows / batch) micro-batches (the last one short), and ceil(micro-batches / accumulation)
    optimizer steps: the last step of an epoch takes the remainder. 20 rows, batch 2, accumulation 4: 10
    micro-batches, 3 steps (4 + 4 + 2), so 10 epochs run 30 steps, not 20.
    """
    t = request.train
    if t.max_steps:
        return t.max_steps
    micro = math.ceil(n_rows / (t.batch_size * world))
    per_epoch = max(1, math.ceil(micro / t.grad_accum))
    return math.ceil(t.epochs * per_epoch)


def sft_config(
    request: RunRequest, out_dir: Path, device: str, dtype: torch.dtype, backend_args: dict[str, Any] | None = None
) -> Any:
    """Every argument explicit; `backend_args` are the backend's own (`Backend.trainer_args`), over trl's defaults."""
    from trl import SFTConfig

    t = request.train
    gc = t.gradient_checkpointing
    args: dict[str, Any] = dict(
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
        # a backend's own checkpointing mode is set on the model by its adapter step; the trainer must not add its own.
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
        logging_nan_inf_filter=False,  # its default True logs the running mean in place of an inf/NaN loss
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
        shuffle_dataset=False,
        activation_offloading=False,
        **TRAINER_SWITCHES_OFF,  # each backend's trl switch, off unless its own trainer_args turn it on
        torch_compile=False,
    )
    return SFTConfig(**(args | (backend_args or {})))


def build_trainer(
    model: Any, tokenizer: Any, rows: list[dict[str, str]], request: RunRequest, out_dir: Path, device: str,
    dtype: torch.dtype, timer: StepTimer, backend_args: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    from datasets import Dataset
    from trl import SFTTrainer

    ds = Dataset.from_list(rows)  # {"prompt", "completion"}: loss on the completion only
    trainer = SFTTrainer(
        model=model,
        args=sft_config(request, out_dir, device, dtype, backend_args),
        train_dataset=ds,
        processing_class=tokenizer,
        callbacks=[timer, DivergenceGuard()],
    )
    timer.watch(trainer)
    return trainer


def divergence(trainer: Any) -> str | None:
    """The trainer's DivergenceGuard's reason: None when every logged loss was finite."""
    guard = next((cb for cb in trainer.callback_handler.callbacks if isinstance(cb, DivergenceGuard)), None)
    return guard.reason if guard is not None else None


def loss_scaler(trainer: Any) -> str | None:
    """The gradient scaler the trainer's accelerator really uses (fp16 needs one), by class name; None: none."""
    scaler = getattr(getattr(trainer, "accelerator", None), "scaler", None)
    return type(scaler).__name__ if scaler is not None else None


def step_stats(times: list[float], burn_in: int, shapes: list[str] | None = None) -> StepTimes:
    """The steps' times and token shapes (kept only when every step has one), with summary figures."""
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
        shapes=list(shapes) if shapes and len(shapes) == len(times) and all(shapes) else None,
    )


def loss_curve(trainer: Any) -> list[tuple[int, float]]:
    return [(int(h["step"]), float(h["loss"])) for h in trainer.state.log_history if "loss" in h and "step" in h]
