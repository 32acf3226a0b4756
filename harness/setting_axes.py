"""Run settings a sweep can vary besides model, rank, backend and quant: batch size, max_length,
gradient checkpointing and dtype.

Each is a list in a spec's `axes:` (`batch_sizes: [2, 4]`) and a flag (`--batch-sizes 2 4`); left out,
the run takes the one value in `base:` (so a spec without these axes expands to the same runs and run
keys as before they existed). A setting whose axis holds more than one value is named in the run's label
and file name (`RunRequest.varied`), so runs that differ only in it can be told apart.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any

import yaml

from harness.backends import CHECKPOINTING_MODES


@dataclass(frozen=True)
class SettingAxis:
    axis: str  # field of the spec's `axes:`
    section: str  # the request section holding the setting
    field: str  # the setting's field in that section
    flag: str  # the command-line flag (plural: it takes several values)
    alias: str  # the single-value spelling `fits` uses (an alias of the same flag)


SETTING_AXES: tuple[SettingAxis, ...] = (
    SettingAxis("batch_sizes", "train", "batch_size", "--batch-sizes", "--batch"),
    SettingAxis("max_lengths", "train", "max_length", "--max-lengths", "--max-length"),
    SettingAxis(
        "gradient_checkpointing", "train", "gradient_checkpointing", "--gradient-checkpointing", "--checkpointing"
    ),
    SettingAxis("dtypes", "train", "dtype", "--dtypes", "--dtype"),
)
BY_FIELD = {a.field: a for a in SETTING_AXES}


def setting_tag(field: str, value: Any) -> str:
    """'b2', 'len512', 'gc' / 'no-gc' / 'gc-<a backend's own mode>', 'bf16': short enough for a label and a file
    name."""
    if field == "batch_size":
        return f"b{value}"
    if field == "max_length":
        return f"len{value}"
    if field == "gradient_checkpointing":
        return {True: "gc", False: "no-gc"}.get(value, f"gc-{value}")
    return str(value)


def setting_words(train: Any, fields: list[str] | tuple[str, ...]) -> list[str]:
    """'batch size 4', 'max_length 512', 'gradient checkpointing on', 'dtype bf16': for sentences."""
    words = {"batch_size": "batch size", "max_length": "max_length", "gradient_checkpointing": "gradient checkpointing",
             "dtype": "dtype"}  # fmt: skip
    out = []
    for a in SETTING_AXES:
        if a.field in fields:
            v = getattr(train, a.field)
            out.append(f"{words[a.field]} {'on' if v is True else 'off' if v is False else v}")
    return out


def setting_tags(train: Any, fields: list[str] | tuple[str, ...]) -> list[str]:
    """Tags of the named settings of a request's `train` section, in axis order."""
    return [setting_tag(a.field, getattr(train, a.field)) for a in SETTING_AXES if a.field in fields]


def add_setting_axes(p: argparse.ArgumentParser) -> None:
    """--batch-sizes/--batch, --max-lengths/--max-length, --gradient-checkpointing/--checkpointing, --dtypes/--dtype."""
    helps = {
        "batch_size": "per-device training batch size(s): one run per value",
        "max_length": "training max_length(s) in tokens: one run per value",
        "gradient_checkpointing": f"on, off or {' or '.join(CHECKPOINTING_MODES)}: one run per value",
        "dtype": "auto, bf16, fp16 or fp32: one run per value",
    }
    for a in SETTING_AXES:
        p.add_argument(a.flag, a.alias, dest=a.axis, nargs="+", metavar="V", help=helps[a.field])


def yaml_scalar(text: str) -> Any:
    """A command-line value as YAML reads it (`1e-4` a number, `on` true, `[a, b]` a list); text that YAML
    reads as nothing (a comment such as `### Q: {question}`) or cannot read stays the text it is."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if value is None and text.strip() not in ("", "~", "null", "Null", "NULL"):
        return text
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value.strip()):
        return float(value)  # YAML 1.1 reads 1e-4 (no dot) as text
    return value


def setting_flags(run: Any) -> str:
    """' --batch-sizes 2' for each setting that varies in a report's folder (`report.load.Run.shown`)."""
    train = run.request.train
    out = ""
    for a in SETTING_AXES:
        if a.field in run.shown:
            v = getattr(train, a.field)
            out += f" {a.flag} {'on' if v is True else 'off' if v is False else v}"
    return out
