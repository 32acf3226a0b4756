"""Loading and expansion: a sweep spec from YAML or the command line, a request from plain fields, the spec's
`base` checked section by section, and `expand_sweep` (the spec's axes as requests, in interleaved rounds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.backends import settings_sections
from harness.config.base import deep_merge
from harness.config.candidates import Candidate, CandidateFile
from harness.config.request import DataSettings, GenerationSettings, LoraSettings, RunRequest, TrainSettings
from harness.config.sweep import SweepSpec
from harness.errors import UserError
from harness.gpu_prices import emulated_gpus
from harness.validation import read_yaml, validation_error, validation_lines


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


def base_problems(base: Mapping[str, Any], source: Path | str, typed: Mapping[str, str] | None = None) -> list[str]:
    """The run settings a spec's `base` gives, checked section by section without a candidate (a request checks
    them all again): one line per problem, so that a spec whose axes are wrong is not the only thing said."""
    sections: dict[str, type[BaseModel]] = {"lora": LoraSettings, "data": DataSettings, "train": TrainSettings,
                                            "generation": GenerationSettings, **settings_sections()}  # fmt: skip
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
                                emulated = emulated or emulated_gpus(spec.prices)
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
