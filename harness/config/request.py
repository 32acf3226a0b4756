"""One run's request: `RunRequest` and its sections (LoRA, data, training, generation, an emulated GPU, and each
backend's own settings section, from the registry). Its canonical JSON, less what only names it, is the run key's
request (`key_fields`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model, model_validator

from harness.backends import CHECKPOINTING_MODES, PLAIN, settings_sections
from harness.config.base import Backend, Quant, Strict, WeightsMode
from harness.config.candidates import Candidate
from harness.labels import emulated_variant, repeat_tail, run_label
from harness.setting_axes import BY_FIELD, setting_tags


class LoraSettings(Strict):
    rank: int = Field(16, gt=0)  # more memory, more capacity
    alpha: int = Field(16, gt=0)  # scale = alpha / rank
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | None = None  # None: the candidate's lora_target_modules
    init_lora_weights: bool | Literal["gaussian", "pissa", "olora"] = True
    bias: Literal["none", "all", "lora_only"] = "none"


class DataSettings(Strict):
    path: str = "data/sample_qa.csv"  # relative paths resolve against the repo root
    format: Literal["auto", "ohlora_csv", "alpaca", "korquad"] = "auto"
    train_rows: int = Field(20, gt=0)  # the study trains on 20 of 200 rows
    eval_rows: int = Field(25, ge=0)  # held-out rows with references, scored automatically
    grade_rows: int = Field(0, ge=0)  # rows without references (team's `valid`), answered for grading by hand
    append_eos: bool = True  # completion ends in the tokenizer's end token
    prompt_template: str | None = None  # None: the candidate's; may use {question} and {context}
    # a hub data set (path org/name[:split]): role -> column (question, answer, context, id; None: detected)
    columns: dict[Literal["question", "answer", "context", "id"], str] | None = None
    revision: str | None = None  # a hub data set's commit, pinned by the sweep before the first run (in the key)


class TrainSettings(Strict):
    epochs: float = Field(10, gt=0)  # the study: 10 epochs over 20 rows at batch 4 = 50 steps
    max_steps: int | None = Field(None, gt=0)  # set: overrides epochs
    batch_size: int = Field(4, gt=0)  # per device
    grad_accum: int = Field(1, gt=0)  # effective batch = batch_size * grad_accum
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "linear"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    optimizer: str = "adamw_torch"  # adamw_8bit / paged_adamw_8bit need bitsandbytes
    max_length: int = Field(256, gt=8)  # tokens; longer rows are truncated
    # less memory, slower steps; a backend may add modes of its own (`Backend.checkpointing_modes`)
    gradient_checkpointing: bool | Literal[CHECKPOINTING_MODES] = False  # type: ignore[valid-type]
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 where native (8.0+), else fp16; CPU fp32
    pad_to_multiple_of: int | None = Field(None, gt=0)  # fixed shapes cost memory, may save compile time
    loss_type: Literal["nll", "chunked_nll"] = "nll"  # chunked_nll: lm_head on answer tokens only, less memory
    burn_in_steps: int = Field(5, ge=0)  # first steps carry the one-time costs; timed apart
    seed: int = 42


class GenerationSettings(Strict):
    max_new_tokens: int = Field(80, gt=0)
    force_new_tokens: bool = False  # shape mode only: every answer exactly max_new_tokens (real weights never)
    batch_size: int = Field(1, gt=0)  # 1 = the team's measurement; more = answers produced fast
    latency_prompts: int = Field(3, ge=0)  # with batch_size > 1: also time this many prompts one at a time
    base_answers: bool = True  # answer the held-out prompts before fine-tuning too
    merge_adapter: bool = False  # merge_and_unload before generating (faster; recorded)


class EmulatedGpu(Strict):
    """A smaller GPU measured on a bigger one (`--emulate T4`): its memory caps the caching allocator, its
    compute capability picks the dtype and what cannot run; time stays the measuring GPU's."""

    name: str  # as the fits GPU table names it (benchmarks/gpu-prices.yaml)
    memory_mib: float = Field(gt=0)  # what the card reports as total (nvidia-smi)
    compute_capability: tuple[int, int]


class _RequestHead(Strict):
    """The request's fields before the backends' own sections (the order they are written in a result file)."""

    candidate: Candidate
    weights: WeightsMode = "real"
    weights_path: str | None = None  # local folder with real weights (else HF cache, offline)
    backend: Backend = PLAIN
    quant: Quant = "none"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    lora: LoraSettings = LoraSettings()
    data: DataSettings = DataSettings()
    train: TrainSettings = TrainSettings()
    generation: GenerationSettings = GenerationSettings()


# Each backend's own settings section (`Backend.settings_field`: `settings_model`), in registry order, after `generation` as the
# field was written before backends declared it, so that result files and run keys stay as they were.
_RequestWithBackends: Any = create_model(
    "_RequestWithBackends",
    __base__=_RequestHead,
    **{name: (model, model()) for name, model in settings_sections().items()},  # type: ignore[call-overload]
)


class RunRequest(_RequestWithBackends):
    """Everything that defines one run. Its canonical JSON is hashed into the run key."""

    trust_remote_code: bool = False
    repeat: int = Field(0, ge=0)  # index of a repeat of the same cell: each is its own process and run key
    warmup: bool = False  # a sweep's warm-up run: pays the machine's first-run costs, never reported
    emulate: EmulatedGpu | None = None  # None: the GPU it runs on, as it is
    # settings a sweep axis varies (harness/setting_axes.py): named in the label and file name, not in the
    # key (the settings themselves are)
    varied: list[Literal[tuple(BY_FIELD)]] = []  # type: ignore[valid-type]
    save_adapter: bool = False  # keep the trained adapter beside the result (harness/adapters.py); not in the key

    @model_validator(mode="after")
    def _rank_fits(self) -> RunRequest:
        hidden = self.candidate.hidden_size
        if hidden and self.lora.rank > hidden:
            raise ValueError(f"lora.rank {self.lora.rank} is larger than {self.candidate.name}'s hidden size {hidden}")
        return self

    def tags(self, sep: str = " ") -> list[str]:
        """What tells this run apart besides candidate, rank, backend and quant: the settings the sweep varies
        ('b2', 'len512'), and an emulated GPU's dtype given once (e.g. --dtypes fp32)."""
        tags = setting_tags(self.train, self.varied)
        if self.emulate is not None and self.train.dtype != "auto" and "dtype" not in self.varied:
            tags.append(self.train.dtype)
        return tags

    @property
    def label(self) -> str:
        """'gemma-2-2b-it r16 hf none b2 real (as T4) #2' (harness.labels)."""
        return run_label(
            self.candidate.name, self.lora.rank, self.backend, self.quant, [*self.tags(), self.weights],
            variant=self.variant, tail=repeat_tail(self.repeat, self.warmup),
        )  # fmt: skip

    @property
    def variant(self) -> str:
        """' (as T4)' for a run that emulated a smaller GPU, else ''."""
        return emulated_variant(self.emulate.name if self.emulate is not None else None)

    @property
    def cell(self) -> tuple[str, int, str, str, str]:
        """What repeats share: candidate, rank, backend, quant, weights mode."""
        return (self.candidate.name, self.lora.rank, self.backend, self.quant, self.weights)

    def key_fields(self) -> dict[str, Any]:
        """The request as the run key hashes it: descriptive candidate fields left out; `emulate` only when set,
        so that the keys of runs made before it existed stay theirs."""
        out = self.model_dump(mode="json")
        out["candidate"] = self.candidate.model_spec()
        if out.get("emulate") is None:
            out.pop("emulate", None)
        out.pop("varied", None)  # which settings the sweep varied names the run; the settings are in the key
        for name in ("columns", "revision"):  # hub data sets only: a local file's runs keep their keys
            if out["data"].get(name) is None:
                out["data"].pop(name, None)
        out.pop("save_adapter")  # keeping a copy of the adapter moves no figure (its seconds are kept apart)
        return out
