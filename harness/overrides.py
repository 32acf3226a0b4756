"""`--set PATH=VALUE`: any field of a sweep spec from the command line.

    --set train.learning_rate=1e-4 --set lora.alpha=32 --set generation.max_new_tokens=16
    --set timeout_s=600 --set ranking.time=0.5 --set base.data.format=alpaca

PATH is a field of the spec (`timeout_s`, `ranking.time`, `axes.ranks`, `job.steps`) or of a run request,
which lands in the spec's `base:` (`train.learning_rate` is `base.train.learning_rate`). VALUE is read as
YAML (`1e-4`, `true`, `[q_proj, v_proj]`); text that is not a value of the field is tried as plain text.
Each path is walked through the spec's own pydantic models and each value checked by its field, so an
unknown field or a bad value is a one-line error naming it, before anything runs or is written; the whole
spec is validated again afterwards (field validators, model validators), as a YAML file would be.

A setting a sweep axis decides (`lora.rank`, `backend`, `quant`, and the setting axes such as
`train.batch_size`) is pinned to the one value: its axis becomes that value.
"""

from __future__ import annotations

import copy
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, TypeAdapter, ValidationError

from harness.config import RunRequest, SweepSpec, field_adapter
from harness.errors import UserError
from harness.setting_axes import SETTING_AXES, yaml_scalar

# Request fields the sweep itself fills in: where to set them instead.
SET_BY_SWEEP = {
    "candidate": "the candidates axis (--model, axes.candidates)",
    "repeat": "--repeats (axes.repeats)",
    "warmup": "the sweep (its warm-up run)",
    "varied": "the sweep's setting axes",
}
# A request setting that an axis decides -> that axis; `always`: the axis always holds a value.
AXIS_OF: dict[str, tuple[str, bool]] = {
    "lora.rank": ("ranks", True),
    "backend": ("backends", True),
    "quant": ("quants", True),
    **{f"{a.section}.{a.field}": (a.axis, False) for a in SETTING_AXES},
}
EXAMPLE = "e.g. --set train.learning_rate=1e-4"


def apply_sets(raw: dict[str, Any], items: list[str] | None) -> dict[str, Any]:
    """The spec's plain fields with every `--set PATH=VALUE` applied, in order (later wins)."""
    out = copy.deepcopy(raw)
    for item in items or []:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise UserError(f"--set {item}: give PATH=VALUE, {EXAMPLE}")
        target, value = resolve(path, text)
        _put(out, target, value)
        if target[0] == "base":
            axis = AXIS_OF.get(".".join(target[1:]))
            if axis is not None and (axis[1] or (out.get("axes") or {}).get(axis[0]) is not None):
                out.setdefault("axes", {})[axis[0]] = [value]
    return out


def resolve(path: str, text: str) -> tuple[tuple[str, ...], Any]:
    """(where the value goes in the spec's plain fields, the checked value); a UserError names the field."""
    parts = path.split(".")
    if not all(parts):
        raise UserError(f"--set {path}: a field name in the path is empty; {EXAMPLE}")
    model: type[BaseModel]
    if parts[0] == "base":
        if len(parts) == 1:
            raise UserError(f"--set {path}: name a field under base, e.g. base.train.learning_rate")
        model, prefix, parts = RunRequest, ("base",), parts[1:]
    elif parts[0] in SweepSpec.model_fields:
        model, prefix = SweepSpec, ()
    elif parts[0] in RunRequest.model_fields:
        model, prefix = RunRequest, ("base",)
    else:
        fields = [f for f in SweepSpec.model_fields if f != "base"] + _fields(RunRequest)
        raise UserError(f"--set {parts[0]}: no such field; fields of the spec: {', '.join(dict.fromkeys(fields))}")
    for i, part in enumerate(parts):
        done = ".".join(parts[: i + 1])
        if model is RunRequest and part in SET_BY_SWEEP:
            raise UserError(f"--set {path}: {part} is set by {SET_BY_SWEEP[part]}, not by --set")
        if part not in model.model_fields:
            group = ".".join(parts[:i]) or "the spec"
            raise UserError(f"--set {done}: no such field; fields of {group}: {', '.join(_fields(model))}")
        if i == len(parts) - 1:
            return (*prefix, *parts), _check(path, text, field_adapter(model, part))
        annotation = model.model_fields[part].annotation
        sub = _submodel(annotation)
        if sub is not None:
            model = sub
            continue
        values = _dict_values(annotation)
        if values is not None and i == len(parts) - 2:  # a mapping's entry, e.g. quality_weights.chrf
            return (*prefix, *parts), _check(path, text, TypeAdapter(values))
        raise UserError(f"--set {path}: {done} is a single value, not a group of fields; use --set {done}=VALUE")
    raise AssertionError("unreachable")  # the loop returns at the last part


def _fields(model: type[BaseModel]) -> list[str]:
    return [f for f in model.model_fields if not (model is RunRequest and f in SET_BY_SWEEP)]


def _check(path: str, text: str, adapter: TypeAdapter[Any]) -> Any:
    """The value as YAML reads it, else as plain text; checked by the field and returned in its JSON form."""
    value = yaml_scalar(text)
    tries = [value] if isinstance(value, str) and value == text else [value, text]
    first: ValidationError | None = None
    for candidate in tries:
        try:
            return adapter.dump_python(adapter.validate_python(candidate), mode="json")
        except ValidationError as e:
            first = first or e
    assert first is not None
    err = first.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    raise UserError(f"--set {path}={text}: {msg}" + (f" (at {where})" if where else "")) from None


def _members(annotation: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(annotation)
    return (annotation,)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    for t in _members(annotation):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def _dict_values(annotation: Any) -> Any:
    for t in _members(annotation):
        if typing.get_origin(t) is dict:
            args = typing.get_args(t)
            return args[1] if len(args) == 2 else Any
    return None


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for p in path[:-1]:
        if not isinstance(node.get(p), dict):
            node[p] = {}  # e.g. `job: null` in the spec, or a section base does not name yet
        node = node[p]
    node[path[-1]] = value
