"""A sweep spec: its axes (candidates, ranks, backends, quants, repeats, emulated GPUs, run settings), the team's
job and the ranking's weights; `parse_job` for `--job`."""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from harness.backends import PLAIN
from harness.config.base import SAFE_NAME, Backend, Quant, Strict, WeightsMode, deep_merge, field_adapter
from harness.config.request import TrainSettings
from harness.errors import UserError
from harness.setting_axes import SETTING_AXES
from harness.validation import validation_error


class Axes(Strict):
    candidates: list[str] = Field(min_length=1)
    ranks: list[int] = Field([16], min_length=1)
    backends: list[Backend] = [PLAIN]
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
            from harness.quality_weights import resolve_weights

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
