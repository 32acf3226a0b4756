"""What the config's modules share: the strict pydantic base, the project's files, names that become file
names, the backend and quantisation choices (from the backend registry), one-field validators, deep_merge."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, TypeAdapter

from harness.backends import NAMES as BACKEND_NAMES
from harness.backends import QUANTS
from harness.project import project_root

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


def field_adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    """A validator for one field of a model, its constraints included (field validators are the model's)."""
    field = model.model_fields[name]
    typ = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return TypeAdapter(typ)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
