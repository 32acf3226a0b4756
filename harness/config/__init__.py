"""The typed config tree: candidates, one run's request, and sweep specs.

Everything that changes a run's result lives in `RunRequest`; its hash is the run's key (see `harness.keys`).
YAML is read with `yaml.safe_load` only, and every validation failure becomes a one-line `UserError` naming the
file and the field. One module per part:

- `base`: the strict pydantic base, the project's files, backend/quant choices, `field_adapter`, `deep_merge`;
- `candidates`: `Candidate`, the candidates file, `load_candidates`;
- `request`: `RunRequest` and its sections (each backend's own from the registry);
- `sweep`: `SweepSpec`, its `Axes`, `JobSettings` (`parse_job`), `RankingWeights`;
- `loading`: specs and requests from plain fields, `expand_sweep`.

`from harness.config import X` keeps working for all of them (and for the YAML and error helpers of
`harness.validation`).
"""

from __future__ import annotations

from harness.config.base import (
    CANDIDATES_FILE,
    REPO_ROOT,
    SAFE_NAME,
    Backend,
    Quant,
    Strict,
    WeightsMode,
    deep_merge,
    field_adapter,
)
from harness.config.candidates import Candidate, CandidateFile, GgufSource, PublishedFigures, load_candidates
from harness.config.loading import base_problems, build_request, expand_sweep, load_sweep_spec, make_spec
from harness.config.request import (
    DataSettings,
    EmulatedGpu,
    GenerationSettings,
    LoraSettings,
    RunRequest,
    TrainSettings,
)
from harness.config.sweep import Axes, JobSettings, RankingWeights, SweepSpec, parse_job
from harness.validation import read_yaml, validation_error, validation_lines, validation_message

__all__ = [
    "CANDIDATES_FILE", "REPO_ROOT", "SAFE_NAME", "Axes", "Backend", "Candidate", "CandidateFile", "DataSettings",
    "EmulatedGpu", "GenerationSettings", "GgufSource", "JobSettings", "LoraSettings", "PublishedFigures", "Quant",
    "RankingWeights", "RunRequest", "Strict", "SweepSpec", "TrainSettings", "WeightsMode", "base_problems",
    "build_request", "deep_merge", "expand_sweep", "field_adapter", "load_candidates", "load_sweep_spec",
    "make_spec", "parse_job", "read_yaml", "validation_error", "validation_lines", "validation_message",
]  # fmt: skip
