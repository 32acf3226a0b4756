"""The candidates: a model the team may fine-tune (`Candidate`, with what moves the figures: `model_spec()`),
the candidates file, and reading it with one line per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from harness.config.base import CANDIDATES_FILE, SAFE_NAME, Strict
from harness.errors import UserError, UserErrors
from harness.validation import read_yaml


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
    unsloth_native: bool = False  # that backend has a native patch for this architecture (its `candidate_fact`)
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
