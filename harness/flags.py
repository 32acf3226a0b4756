"""What the user typed on the command line, for errors and headers that name it: each flag's settings (the
spec's and the run request's field paths), the setting axes' values as typed, and a data file's name as a
results folder."""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.backends import FLAGS as BACKEND_FLAGS
from harness.config import TrainSettings, field_adapter
from harness.errors import UserError
from harness.model_spec import safe_name
from harness.setting_axes import SETTING_AXES, yaml_scalar

# argparse name -> the field paths it sets (a spec's, then a run request's)
FLAG_FIELDS: dict[str, tuple[str, ...]] = {
    "data": ("data.path",), "max_steps": ("train.max_steps",), "train_rows": ("data.train_rows",),
    "prompts": ("data.eval_rows",), "max_new_tokens": ("generation.max_new_tokens",),
    "gen_batch": ("generation.batch_size",), "device": ("device",), "weights": ("weights",),
    "repeats": ("axes.repeats",), "job": ("job",),
    **{f.dest: (f.field,) for f in BACKEND_FLAGS},  # each backend's own options
    "ranks": ("axes.ranks", "lora.rank"), "backends": ("axes.backends", "backend"),
    "quants": ("axes.quants", "quant"), "model": ("axes.candidates",), "emulate": ("axes.emulate", "emulate"),
    "batch_sizes": ("axes.batch_sizes", "train.batch_size"), "max_lengths": ("axes.max_lengths", "train.max_length"),
    "gradient_checkpointing": ("axes.gradient_checkpointing", "train.gradient_checkpointing"),
    "dtypes": ("axes.dtypes", "train.dtype"),
}  # fmt: skip
# the ones that change what a run does, which a spec's description may state
SETTING_FIELDS = ("data.path", "train.max_steps", "data.train_rows", "data.eval_rows", "generation.max_new_tokens",
                  "generation.batch_size", "device", "weights", *(f.field for f in BACKEND_FLAGS))  # fmt: skip


def typed(args: argparse.Namespace) -> dict[str, str]:
    """Field path -> the flag as typed (`--ranks 100000`), for every setting given on the command line."""
    out: dict[str, str] = {}
    for name, paths in FLAG_FIELDS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        for path in paths:
            out[path] = f"--{name.replace('_', '-')} {text}"
    return out


def changed_settings(flags: dict[str, str]) -> list[str]:
    """The flags (as typed) that change what a run does."""
    return [flags[p] for p in SETTING_FIELDS if p in flags]


def data_name(path: str) -> str:
    """A data file's stem as a folder name; a stem with nothing a folder name keeps (Korean) gets its hash."""
    stem = Path(path).stem
    short = safe_name(stem)
    return short if short != "model" or stem == "model" else "data-" + hashlib.sha256(stem.encode()).hexdigest()[:8]


def setting_axes_given(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The setting axes given on the command line, each value read as a YAML scalar (`on` -> true) and
    checked against the setting's own field; a bad value is a one-line error naming the flag."""
    out: dict[str, list[Any]] = {}
    for a in SETTING_AXES:
        given = getattr(args, a.axis, None)
        if not given:
            continue
        adapter = field_adapter(TrainSettings, a.field)
        values = []
        for text in given:
            try:
                values.append(adapter.validate_python(yaml_scalar(text)))
            except ValidationError as e:
                raise UserError(f"{a.flag} {text}: {e.errors()[0]['msg']} ({a.section}.{a.field})") from None
        out[a.axis] = values
    return out
