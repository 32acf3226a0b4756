"""The typed config tree: candidates, one run's request, and sweep specs.

Everything that changes a run's result lives in `RunRequest`; its hash is the
run's key (see `harness.keys`). YAML is read with `yaml.safe_load` only,
and every validation failure becomes a one-line `UserError` naming the file
and the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.backends import NAMES as BACKEND_NAMES
from harness.backends import QUANTS
from harness.errors import UserError, UserErrors
from harness.project import project_root
from harness.setting_axes import BY_FIELD, SETTING_AXES, setting_tags

# The project's own files: the source tree, or in an installed wheel its package data (harness/project.py).
REPO_ROOT = project_root()
CANDIDATES_FILE = REPO_ROOT / "candidates.yaml"

# Backend and quantisation names come from the backend registry (harness/backends/__init__.py).
Backend = Literal[BACKEND_NAMES]  # type: ignore[valid-type]
Quant = Literal[QUANTS]  # type: ignore[valid-type]
WeightsMode = Literal["real", "shape"]
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


# ---------------------------------------------------------------- candidates


class GgufSource(Strict):
    """Weights shipped as a GGUF file inside an installed Python package (never imported)."""

    package: str  # module name, located with importlib.util.find_spec
    file: str  # file name inside the package folder
    eos_token: str | None = None  # fix for tokenizers whose GGUF conversion loses the end token


class PublishedFigures(Strict):
    """The team's own hand-measured figures (Colab T4), shown beside ours and marked as theirs."""

    gpu: str = "Tesla T4"
    finetune_s: dict[int, float] = {}  # rank -> seconds
    finetune_mb: dict[int, float] = {}  # rank -> MB, torch.cuda.memory_allocated() after training
    inference_s: float | None = None  # seconds per answer
    inference_mb: float | None = None


class Candidate(Strict):
    name: str  # what MODEL= takes
    hub_id: str
    params_b: float = Field(gt=0)  # published parameter count, billions
    params_note: str | None = None
    ko_llm_avg: float | None = None  # Open Ko-LLM leaderboard average (team's study)
    license: str
    family: str  # architecture family, shown in tables; loading follows model_type, not this
    model_type: str  # transformers model_type
    shape_config: dict[str, Any]  # fields that build the architecture in shape mode
    lora_target_modules: list[str] = Field(min_length=1)
    prompt_template: str = "### 질문: {question} ### 답변:"
    trust_remote_code: bool = False  # the candidate needs it; the user must still pass --trust-remote-code
    unsloth_native: bool = False  # Unsloth has a native patch for this architecture
    weights: Literal["hub", "gguf-package"] = "hub"
    gguf: GgufSource | None = None
    published: PublishedFigures | None = None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not SAFE_NAME.match(v) or ".." in v:
            raise ValueError("must be letters, digits, '.', '_' or '-' (it becomes a file name)")
        return v

    @field_validator("prompt_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{question}" not in v:
            raise ValueError("must contain {question}")
        return v

    @model_validator(mode="after")
    def _gguf_needs_source(self) -> Candidate:
        if self.weights == "gguf-package" and self.gguf is None:
            raise ValueError("weights: gguf-package needs a gguf: {package, file} block")
        return self

    # Fields that only describe the candidate (shown in reports, joined at report time). Everything
    # else decides what is loaded and trained, so it is part of the run key (`model_spec`).
    DESCRIPTIVE: ClassVar[frozenset[str]] = frozenset(
        {"params_b", "params_note", "ko_llm_avg", "license", "family", "published"}
    )

    def model_spec(self) -> dict[str, Any]:
        """What moves the figures: hub id or path, config, tokenizer source, LoRA targets, template."""
        return {k: v for k, v in self.model_dump(mode="json").items() if k not in self.DESCRIPTIVE}

    @property
    def hidden_size(self) -> int | None:
        c = self.shape_config
        return c.get("hidden_size") or c.get("n_embd") or c.get("d_model")


class CandidateFile(Strict):
    candidates: list[Candidate]

    @model_validator(mode="after")
    def _unique(self) -> CandidateFile:
        names = [c.name for c in self.candidates]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate candidate names: {sorted(dup)}")
        return self

    def get(self, name: str) -> Candidate:
        for c in self.candidates:
            if c.name == name:
                return c
        known = ", ".join(c.name for c in self.candidates)
        raise UserError(f"unknown candidate '{name}': known candidates are {known}")


# ---------------------------------------------------------------- one run


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
    gradient_checkpointing: bool | Literal["unsloth"] = False  # less memory, slower steps
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


class UnslothSettings(Strict):
    compile: Literal["default", "block_off", "all_off"] = "default"
    # default: Unsloth as shipped; block_off: UNSLOTH_BLOCK_COMPILE=0; all_off: UNSLOTH_COMPILE_DISABLE=1


class EmulatedGpu(Strict):
    """A smaller GPU measured on a bigger one (`--emulate T4`): its memory caps the caching allocator, its
    compute capability picks the dtype and what cannot run; time stays the measuring GPU's."""

    name: str  # as the fits GPU table names it (benchmarks/gpu-prices.yaml)
    memory_mib: float = Field(gt=0)  # what the card reports as total (nvidia-smi)
    compute_capability: tuple[int, int]


class RunRequest(Strict):
    """Everything that defines one run. Its canonical JSON is hashed into the run key."""

    candidate: Candidate
    weights: WeightsMode = "real"
    weights_path: str | None = None  # local folder with real weights (else HF cache, offline)
    backend: Backend = "hf"
    quant: Quant = "none"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    lora: LoraSettings = LoraSettings()
    data: DataSettings = DataSettings()
    train: TrainSettings = TrainSettings()
    generation: GenerationSettings = GenerationSettings()
    unsloth: UnslothSettings = UnslothSettings()
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

    @property
    def label(self) -> str:
        tail = " warm-up" if self.warmup else (f" #{self.repeat + 1}" if self.repeat else "")
        settings = "".join(f" {t}" for t in setting_tags(self.train, self.varied))
        if self.emulate is not None and self.train.dtype != "auto" and "dtype" not in self.varied:
            settings += f" {self.train.dtype}"  # an emulated GPU's dtype given once (e.g. --dtypes fp32), said
        return (
            f"{self.candidate.name} r{self.lora.rank} {self.backend} {self.quant}{settings} {self.weights}"
            f"{self.variant}{tail}"
        )

    @property
    def variant(self) -> str:
        """' (as T4)' for a run that emulated a smaller GPU, else ''."""
        return f" (as {self.emulate.name})" if self.emulate is not None else ""

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


def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator for one field of a model, its constraints included (field validators are the model's)."""
    field = model.model_fields[name]
    typ = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(typ)


# ---------------------------------------------------------------- sweeps


class Axes(Strict):
    candidates: list[str] = Field(min_length=1)
    ranks: list[int] = Field([16], min_length=1)
    backends: list[Backend] = ["hf"]
    quants: list[Quant] = ["none"]
    repeats: int = Field(1, gt=0)  # runs of each cell, each its own process: run-to-run variation, measured
    # each run once per GPU named here, emulated on the GPU at hand (its memory caps the allocator, its compute
    # capability sets the dtype and what cannot run); names from the fits GPU table of the spec's price file
    emulate: list[str] = []
    # run settings as axes (harness/setting_axes.py); None: the base's one value. Each value is checked
    # by the setting's own field in TrainSettings.
    batch_sizes: list[Any] | None = Field(None, min_length=1)
    max_lengths: list[Any] | None = Field(None, min_length=1)
    gradient_checkpointing: list[Any] | None = Field(None, min_length=1)
    dtypes: list[Any] | None = Field(None, min_length=1)

    @field_validator("ranks")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        bad = [r for r in v if r <= 0]
        if bad:
            raise ValueError(f"ranks must be > 0, got {bad}")
        return v

    @field_validator(*(a.axis for a in SETTING_AXES))
    @classmethod
    def _setting_values(cls, v: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
        if v is None:
            return v
        axis = next(a for a in SETTING_AXES if a.axis == info.field_name)
        adapter = field_adapter(TrainSettings, axis.field)
        out = []
        for value in v:
            try:
                out.append(adapter.validate_python(value))
            except ValidationError as e:
                raise ValueError(f"{value!r} is not a {axis.section}.{axis.field}: {e.errors()[0]['msg']}") from None
        return out

    def setting_cells(self) -> list[dict[str, Any]]:
        """Every combination of the setting axes as request fields ([{}] when none is given)."""
        cells: list[dict[str, Any]] = [{}]
        for a in SETTING_AXES:
            values = getattr(self, a.axis)
            if values is not None:
                cells = [deep_merge(c, {a.section: {a.field: v}}) for c in cells for v in values]
        return cells

    @property
    def varied(self) -> list[str]:
        """Settings whose axis holds more than one distinct value."""
        return [a.field for a in SETTING_AXES if len({repr(v) for v in getattr(self, a.axis) or []}) > 1]


class RankingWeights(Strict):
    """Weights of the report's ranking score; each term is normalised to 0..1 across candidates."""

    leaderboard: float = 0.4  # Open Ko-LLM average (published, not measured here)
    quality: float = 0.3  # composite quality (left out for shape-mode runs)
    time: float = 0.15  # fine-tune wall time, lower is better
    memory: float = 0.15  # peak GPU memory while fine-tuning, lower is better


class JobSettings(Strict):
    """The fine-tune the team will really do; the ranking projects its time and cost from the measured steps.

    Either `steps`, or rows x epochs at batch_size x grad_accum (steps per epoch rounded up, as the
    trainer does). Leave it out and the ranking projects the measured run's own steps.
    """

    steps: int | None = Field(None, gt=0)
    rows: int | None = Field(None, gt=0)
    epochs: float = Field(1, gt=0)
    batch_size: int = Field(4, gt=0)
    grad_accum: int = Field(1, gt=0)

    @model_validator(mode="after")
    def _one_way(self) -> JobSettings:
        if (self.steps is None) == (self.rows is None):
            raise ValueError("give either steps, or rows (with epochs, batch_size, grad_accum)")
        return self

    @property
    def total_steps(self) -> int:
        if self.steps is not None:
            return self.steps
        assert self.rows is not None
        per_epoch = math.ceil(math.ceil(self.rows / self.batch_size) / self.grad_accum)
        return math.ceil(self.epochs * per_epoch)

    @property
    def text(self) -> str:
        if self.steps is not None:
            return f"{self.steps} steps"
        accum = f" x {self.grad_accum} accumulation" if self.grad_accum > 1 else ""
        return f"{self.rows} rows x {self.epochs:g} epochs at batch {self.batch_size}{accum} = {self.total_steps} steps"


def parse_job(text: str, source: str = "--job") -> JobSettings:
    """'200x3@4' (rows x epochs @ batch), '200x3@4/2' (with accumulation 2) or '600' (steps)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:x\s*([\d.]+)\s*(?:@\s*(\d+)\s*(?:/\s*(\d+))?)?)?\s*", text)
    if not m:
        raise UserError(f"{source}: '{text}' is not a job; write ROWSxEPOCHS@BATCH (e.g. 200x3@4) or a step count")
    rows, epochs, batch, accum = m.groups()
    if epochs is None:
        fields: dict[str, Any] = {"steps": int(rows)}
    else:
        fields = {
            "rows": int(rows),
            "epochs": float(epochs),
            "batch_size": int(batch or 4),
            "grad_accum": int(accum or 1),
        }
    try:
        return JobSettings.model_validate(fields)
    except ValidationError as e:
        raise validation_error(source, e) from None


class SweepSpec(Strict):
    name: str
    description: str = ""
    axes: Axes
    weights: WeightsMode = "real"
    base: dict[str, Any] = {}  # RunRequest fields shared by every run (lora.rank comes from axes)
    timeout_s: int = Field(3600, gt=0)  # per run
    ranking: RankingWeights = RankingWeights()
    quality_weights: dict[str, float] | None = None  # composite score weights, applied at report time
    job: JobSettings | None = None  # the team's real fine-tune, projected from the measured steps
    warmup: bool = True  # on a GPU, one unreported run first pays the machine's first-run costs (once per boot)
    prices: str = "benchmarks/gpu-prices.yaml"

    @field_validator("quality_weights")
    @classmethod
    def _known_weights(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is not None:
            from harness.quality.score import resolve_weights

            try:
                resolve_weights(v)
            except UserError as e:
                raise ValueError(str(e)) from None
        return v

    @field_validator("name")
    @classmethod
    def _safe(cls, v: str) -> str:
        if not SAFE_NAME.match(v) or ".." in v:
            raise ValueError("must be letters, digits, '.', '_' or '-' (it names the results folder)")
        return v


# ---------------------------------------------------------------- loading


def read_yaml(path: Path) -> Any:
    """yaml.safe_load with one-line errors naming the file, line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{path}:{where}: malformed YAML ({problem}); fix the file") from None


def _typed_as(field: str, msg: str, typed: Mapping[str, str]) -> str | None:
    """How the user typed the setting an error is about (a flag and its value), when it came from the command
    line: the field's path or one above it (`job` for `job.rows`), or the field a model-level message names."""
    for path, flag in typed.items():
        if field == path or field.startswith(path + ".") or (not field and msg.startswith(path + " ")):
            return flag
    return None


def validation_lines(
    path: Path | str, err: ValidationError, root: str = "", skip: int = 0, typed: Mapping[str, str] | None = None
) -> list[str]:
    """Every pydantic error, one line each: 'file: field a.b.c: message', or '--flag VALUE: message' for a setting
    the user typed on the command line (`typed`: field path -> the flag as typed). `skip` drops leading location
    parts."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"][skip:])
        field = f"{root}.{loc}" if root and loc else (root or loc)
        msg = e["msg"].removeprefix("Value error, ")
        flag = _typed_as(field, msg, typed or {})
        where = f"field '{field}': " if field else ""
        lines.append(f"{flag}: {msg}" if flag else f"{path}: {where}{msg}")
    return list(dict.fromkeys(lines))


def validation_error(
    path: Path | str, err: ValidationError, root: str = "", skip: int = 0, typed: Mapping[str, str] | None = None
) -> UserErrors:
    """`validation_lines` as the error to raise (`raise validation_error(...) from None`)."""
    return UserErrors(validation_lines(path, err, root, skip, typed))


def validation_message(path: Path | str, err: ValidationError, root: str = "", skip: int = 0) -> str:
    """First pydantic error as 'file: field a.b.c: message' (`skip` drops leading location parts); where every
    problem should be named, `validation_error` gives one line each."""
    return validation_lines(path, err, root, skip)[0]


def load_candidates(path: Path = CANDIDATES_FILE) -> CandidateFile:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with a 'candidates' list")
    try:
        return CandidateFile.model_validate(raw)
    except ValidationError as e:
        items = raw.get("candidates") or []
        lines = []
        for err in e.errors():
            loc, msg = err["loc"], err["msg"].removeprefix("Value error, ")
            if len(loc) >= 2 and loc[0] == "candidates" and isinstance(loc[1], int) and loc[1] < len(items):
                item = items[loc[1]]
                name = item.get("name", f"#{loc[1]}") if isinstance(item, dict) else f"#{loc[1]}"
                where, field = f"candidate '{name}'", ".".join(str(x) for x in loc[2:])
                lines.append(f"{path}: {where}" + (f" field '{field}'" if field else "") + f": {msg}")
            else:
                field = ".".join(str(x) for x in loc)
                lines.append(f"{path}: " + (f"field '{field}': " if field else "") + msg)
        raise UserErrors(list(dict.fromkeys(lines))) from None


def make_spec(fields: dict[str, Any], source: Path | str, typed: Mapping[str, str] | None = None) -> SweepSpec:
    """Validate a sweep spec from plain fields (a YAML file, or the command line); errors name the field, or the
    flag it was typed as (`typed`), one line each."""
    try:
        return SweepSpec.model_validate(fields)
    except ValidationError as e:
        raise validation_error(source, e, typed=typed) from None


def load_sweep_spec(path: Path) -> SweepSpec:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with name, axes and base")
    return make_spec(raw, path)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_problems(base: Mapping[str, Any], source: Path | str, typed: Mapping[str, str] | None = None) -> list[str]:
    """The run settings a spec's `base` gives, checked section by section without a candidate (a request checks
    them all again): one line per problem, so that a spec whose axes are wrong is not the only thing said."""
    sections = {"lora": LoraSettings, "data": DataSettings, "train": TrainSettings,
                "generation": GenerationSettings, "unsloth": UnslothSettings}  # fmt: skip
    lines: list[str] = []
    for name, model in sections.items():
        value = base.get(name)
        if isinstance(value, dict):
            try:
                model.model_validate(value)
            except ValidationError as e:
                lines += validation_lines(source, e, root=name, typed=typed)
    return lines


def build_request(
    candidate: Candidate, fields: dict[str, Any], source: str = "request", typed: Mapping[str, str] | None = None
) -> RunRequest:
    """Validate a request from plain fields; errors name the field, or the flag it was typed as, one line each."""
    try:
        return RunRequest.model_validate({**fields, "candidate": candidate.model_dump()})
    except ValidationError as e:
        raise validation_error(source, e, typed=typed) from None


def _gpu_table(spec: SweepSpec) -> Callable[[str], dict[str, Any]]:
    """`axes.emulate`'s names -> the GPU's fields, from the fits GPU table of the spec's price file."""
    from harness.report.prices import PriceTable, prices_path  # the price file's schema lives with the report

    return PriceTable.load(prices_path(spec.prices), required=True).emulated_gpu  # type: ignore[return-value]


def expand_sweep(
    spec: SweepSpec,
    candidates: CandidateFile,
    source: str = "spec",
    emulated: Callable[[str], dict[str, Any]] | None = None,
    typed: Mapping[str, str] | None = None,
) -> list[RunRequest]:
    """The cartesian product of the spec's axes, repeats included; `emulated` turns a name of `axes.emulate`
    into an EmulatedGpu's fields (default: the fits GPU table of the spec's price file); `typed`: see
    `build_request`.

    Order: interleaved repeat rounds, A B A B ...: every cell once in the spec's order (candidate, rank,
    backend, quant), then the next repeat of every cell in the same order. The configurations that are
    compared run next to each other in every round, so that machine drift lands on both sides alike
    (rotating the order between rounds would run one configuration twice in a row: A B B A).
    """
    cells = []
    for name in spec.axes.candidates:
        cand = candidates.get(name)
        for rank in spec.axes.ranks:
            for backend in spec.axes.backends:
                for quant in spec.axes.quants:
                    for settings in spec.axes.setting_cells():
                        for gpu in spec.axes.emulate or [None]:
                            over: dict[str, Any] = {"lora": {"rank": rank}, "backend": backend, "quant": quant,
                                                    **settings}  # fmt: skip
                            if gpu is not None:
                                emulated = emulated or _gpu_table(spec)
                                over["emulate"] = emulated(gpu)
                            fields = deep_merge(spec.base, over)
                            fields.setdefault("weights", spec.weights)
                            if spec.axes.varied:
                                fields["varied"] = spec.axes.varied
                            cells.append((cand, fields))
    requests = []
    for repeat in range(spec.axes.repeats):
        for cand, fields in cells:
            requests.append(build_request(cand, {**fields, "repeat": repeat}, source, typed))
    return requests
