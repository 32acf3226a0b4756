"""YAML files read safely, and pydantic's errors as one-line user errors naming the file and field (or the flag).

Bottom floor: the config, the price file (`harness.gpu_prices`) and the model folders' candidate lists read
their files with it. No harness imports but `errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import UserError, UserErrors


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
