"""One run's result: a versioned JSON document, written atomically.

The report reads these files only. A run that fails is still a result: its
status and reason say why, and whatever was measured before the failure is kept.

Units: seconds, MiB (2**20 bytes), joules. A figure that could not be
measured on this machine (GPU fields on a CPU-only machine) is null, never 0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.atomic import atomic_write_text
from harness.config import RunRequest

# 2: typed request snapshot and quality; the composite score is computed at report time (not stored).
SCHEMA_VERSION = 2

Status = Literal["ok", "oom", "crashed", "timeout", "unsupported", "cancelled", "mismatch", "diverged", "failed"]
FAILED_STATUSES = ("oom", "crashed", "timeout", "cancelled", "diverged", "failed")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PhaseStats(Model):
    """One phase (load, train, generate_base, ...): wall time and memory peaks inside it."""

    wall_s: float
    nvml_device_used_peak_mib: float | None = None  # whole device: includes other processes and the CUDA context
    nvml_process_peak_mib: float | None = None  # this process's own GPU memory, per NVML
    torch_max_allocated_mib: float | None = None  # torch.cuda.max_memory_allocated, reset at phase start
    torch_max_reserved_mib: float | None = None  # torch.cuda.max_memory_reserved, reset at phase start
    host_rss_peak_mib: float | None = None  # resident host memory of this process
    energy_j: float | None = None  # whole GPU (every process on it), joules over the phase; see energy_method
    energy_method: Literal["counter", "power_integral"] | None = None  # NVML total-energy counter at the phase's
    # edges (Volta and newer), or the integral of NVML power readings (1-s averages on Hopper) where there is none
    samples: int = 0  # monitor samples taken inside the phase
    sampler_stale: bool = False  # the sampler did not answer at the phase's start or end; missed start: peaks None


class StepTimes(Model):
    """Per-step wall times of training; the burn-in steps carry one-time costs.

    `shapes` (one per step, None in older files): the token shape of each of the step's micro-batches,
    "BxL" (batch x padded length), joined by "+". A step whose shape the run had not met before pays for
    new kernels and plans once; the report times it apart from the steady steps (analysis/timing.py).
    The summary figures below are over every step after the burn-in, as recorded."""

    times_s: list[float]
    burn_in_steps: int
    burn_in_s: float | None = None
    steady_mean_s: float | None = None
    steady_p50_s: float | None = None
    steady_p90_s: float | None = None
    steady_p99_s: float | None = None
    shapes: list[str] | None = None


class Effective(Model):
    """Settings read back from the trainer and the model, not copied from the request."""

    global_steps: int | None = None
    per_device_batch: int | None = None
    grad_accum: int | None = None
    effective_batch: int | None = None
    epochs: float | None = None
    gradient_checkpointing: bool | str | None = None
    dtype: str | None = None  # compute dtype of the frozen base, read from the model (nf4: its layers' compute dtype)
    trainable_dtype: str | None = None  # main dtype of the trainable (adapter) parameters, read from the model
    frozen_dtypes: dict[str, int] | None = None  # frozen parameters per dtype ("nf4" for 4-bit), read from the model
    optimizer: str | None = None
    lr_scheduler: str | None = None
    learning_rate: float | None = None
    max_length: int | None = None
    attention: str | None = None  # attention implementation the model runs (eager, sdpa, RWKV's loop or kernel)
    padding: str | None = None  # e.g. "longest", "multiple of 256"
    packing: bool | None = None
    padding_free: bool | None = None
    completion_only_loss: bool | None = None
    loss_type: str | None = None
    loss_scaler: str | None = None  # the trainer's gradient scaler (fp16: GradScaler), None: none
    lora_rank: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_targets: list[str] | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    fp32_params: int | None = None  # parameters upcast to fp32 (e.g. by prepare_model_for_kbit_training)
    quantized_modules: int | None = None
    unsloth_path: str | None = None  # "native" or "generic"
    unsloth_env: dict[str, str] | None = None
    mismatches: list[str] = []  # request vs effective differences; non-empty -> status "mismatch"


class Answer(Model):
    id: str  # row id in the data file
    stage: Literal["base", "tuned"]
    prompt: str
    reference: str | None  # None for rows without a reference (graded by hand)
    # "eval": a held-out row with a reference, scored automatically (quality, bits per character);
    # "grade": a grade row (the data's `valid` split), answered for grading by hand: never scored against a
    # reference, even where the file gives one. Files written before the field read as "eval".
    role: Literal["eval", "grade"] = "eval"
    key_phrase: str | None = None  # for contains-match (KorQuAD answer span); None: the whole reference
    answer: str
    new_tokens: int
    hit_eos: bool
    seconds: float | None = None  # this answer's share of its batch's time
    scores: dict[str, float | None] = {}  # per-answer quality metrics (harness.quality)


class Generation(Model):
    stage: Literal["base", "tuned"]
    batch_size: int
    max_new_tokens: int
    forced_new_tokens: bool
    merged_adapter: bool
    prompts: int
    new_tokens: int
    wall_s: float
    s_per_answer: float
    tokens_per_s: float
    latency_s_per_answer: float | None = None  # one at a time, on `latency_prompts` prompts
    latency_prompts: int = 0
    # each one-at-a-time answer's seconds, in the order answered (the first comes right after the burn-in:
    # a first answer slower than the rest says the burn-in left first-call costs in the timed answers)
    latency_answer_s: list[float] = []


class Weights(Model):
    mode: Literal["real", "shape"]
    source: str  # "gguf:<file>", "hub:<id>", "local:<dir>", "shape:<config hash>"
    path: str | None = None
    tokenizer: str  # where the tokenizer came from; shape mode records a tokenizer trained on the data
    seed: int | None = None
    params: int | None = None
    # How the Hugging Face hub was used for this run's files: "cache" (found there), "downloaded" (fetched
    # for this sweep), "offline" (the user set HF_HUB_OFFLINE=1: cache only); None: no hub (a local folder,
    # the GGUF package, or a stand-in tokenizer).
    hub_access: Literal["cache", "downloaded", "offline", "unreachable"] | None = None
    # "real": the model's own tokenizer; "stand-in": a BPE trained on the data file (shape mode with no real
    # tokenizer reachable): sequence lengths are then not the model's.
    tokenizer_kind: Literal["real", "stand-in"] | None = None
    train_tokens_mean: float | None = None  # tokens per training row (prompt + completion), this tokenizer
    train_tokens_max: int | None = None
    # training rows longer than the request's train.max_length, which the trainer cut to it, and the most tokens
    # cut from one row (0, 0: none cut; None: not measured, a run from before this was recorded)
    train_rows_truncated: int | None = None
    train_tokens_cut_max: int | None = None


class Environment(Model):
    host: str
    # /proc/sys/kernel/random/boot_id: one machine boot; runs on two boot ids ran on two machines or either side of a
    # reboot, so their difference holds machine-to-machine spread (None: not Linux, or an older file)
    boot_id: str | None = None
    platform: str
    python: str
    packages: dict[str, str | None]
    git_sha: str | None
    git_dirty: bool | None
    command: list[str]
    device: Literal["cpu", "cuda"]
    gpu_name: str | None = None
    gpu_index: int | None = None
    gpu_uuid: str | None = None
    compute_capability: str | None = None
    gpu_total_mib: float | None = None
    driver: str | None = None
    cuda: str | None = None
    cpu_count: int | None = None
    # What the run's CPU side really had: usable CPUs (affinity) and torch's intra-op threads. A forked run
    # inherits its server's process state, so these are where a fork would differ from a fresh start.
    cpu_threads: dict[str, int] = {}
    env_vars: dict[str, str] = {}
    compile_caches: dict[
        str, str
    ] = {}  # a cache's name (harness.caches.CACHE_VARS) -> "cold" or "warm" when the run started
    monitor: str | None = None  # how memory and power were sampled
    measurement_version: str | None = None  # harness.MEASUREMENT_VERSION


class Emulation(Model):
    """How a run measured a smaller GPU on the one at hand (`--emulate`): what capped the allocator and why."""

    gpu: str  # the emulated GPU, as the fits GPU table names it
    memory_mib: float  # its memory (nvidia-smi total)
    compute_capability: str  # its capability: the dtype rule and the kernel checks used it
    context_mib: float  # CUDA context and libraries assumed on it (outside torch's allocator)
    context_source: str
    cap_mib: float  # torch's caching allocator capped here: memory - context
    device_total_mib: float  # the measuring GPU's memory
    fraction: float  # torch.cuda.set_per_process_memory_fraction(fraction)
    notes: list[str] = []  # what differs from a real run there (kernels, workspaces, time)


class KeyInputs(Model):
    """What the run key hashes besides the request (harness/keys.py), as the sweep keyed the run:
    the report re-hashes the stored request with these, so a request changed after keying shows."""

    data_sha256: str
    packages: dict[str, str | None]
    gpu: str | None = None


class Interval(Model):
    """A mean with its 95% bootstrap interval over `n` items (prompts, steps or repeats)."""

    mean: float | None
    lo: float | None = None
    hi: float | None = None
    n: int = 0


class Quality(Model):
    """Per-stage summaries of the per-answer scores (`Answer.scores`); the composite is the report's."""

    meaningful: bool = True  # False for shape-mode runs: random weights, no quality to speak of
    base: dict[str, Interval] = {}  # metric -> interval, answers before fine-tuning
    tuned: dict[str, Interval] = {}

    def stage(self, name: str) -> dict[str, Interval]:
        return self.base if name == "base" else self.tuned


class RunResult(Model):
    schema_version: int = SCHEMA_VERSION
    key: str
    label: str
    status: Status
    reason: str | None = None
    request: RunRequest  # the request as the run received it, candidate included (a snapshot)
    key_inputs: KeyInputs | None = None  # the rest of what `key` hashes; None in older files and outside a sweep
    started_at: str
    finished_at: str | None = None
    wall_s: float | None = None  # the child's whole life, from process start to result write
    weights: Weights | None = None
    one_time: dict[str, float] = {}  # e.g. weights_conversion_s, shape_build_s: kept out of run figures
    baseline: PhaseStats | None = None  # idle figures before the model loads
    phases: dict[str, PhaseStats] = {}
    steps: StepTimes | None = None
    loss_curve: list[tuple[int, float]] = []
    effective: Effective | None = None
    generation: list[Generation] = []
    answers: list[Answer] = []
    quality: Quality = Quality()  # see harness.quality
    environment: Environment | None = None
    emulation: Emulation | None = None  # set when the run emulated a smaller GPU
    stderr_tail: str | None = None  # filled by the sweep for crashed runs
    partial: bool = False  # written by the child after each phase while it runs; its final write clears it
    injected: str | None = None  # the test hook's fault that fired in this run (HARNESS_FAULTS), e.g. "oom@step:1"
    adapter: str | None = None  # the saved LoRA adapter's folder, relative to the sweep folder (adapters/<stem>)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)

    def write(self, path: Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> RunResult:
        """Raises CorruptResult if the file is unreadable, truncated or of another schema."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CorruptResult(f"{path}: unreadable result ({e.__class__.__name__})") from None
        return cls.from_json_text(text, str(path))

    @classmethod
    def from_json_text(cls, text: str, where: str = "result") -> RunResult:
        """Parse and validate a result's JSON text; raises CorruptResult."""
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise CorruptResult(f"{where}: unreadable result ({e.__class__.__name__})") from None
        if not isinstance(raw, dict) or raw.get("schema_version") not in UPGRADES:
            raise CorruptResult(f"{where}: not a schema-{SCHEMA_VERSION} result")
        try:
            return cls.model_validate(upgrade(raw))
        except ValidationError as e:
            raise CorruptResult(f"{where}: invalid result ({e.errors()[0]['loc']})") from None

    @property
    def candidate(self) -> str:
        return self.request.candidate.name

    @property
    def rank(self) -> int:
        return self.request.lora.rank


def _upgrade_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 stored the composite (with the weights of its day) and the weights in the request."""
    out = dict(raw, schema_version=2)
    request = dict(raw.get("request") or {})
    request.pop("quality_weights", None)
    out["request"] = request
    quality = raw.get("quality") or {}
    out["quality"] = {
        "meaningful": bool(quality.get("meaningful", True)),
        **{s: quality[s] for s in ("base", "tuned") if isinstance(quality.get(s), dict)},
    }
    return out


UPGRADES = {1: _upgrade_v1, SCHEMA_VERSION: None}


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """A result file of any known schema, as the current schema reads it."""
    while (step := UPGRADES.get(raw.get("schema_version"))) is not None:
        raw = step(raw)
    return raw


class CorruptResult(Exception):
    pass
