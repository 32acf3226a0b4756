"""`bench --spec S --cells FILE`: the configurations named in FILE, one per line as `lora-harness deciding` prints
them (`--model M --ranks R --backends B --quants Q` and the setting axes), run in one sweep with S's settings.

One sweep rather than one `bench` per line: with --repeats its runs interleave round by round over every line
(A B C A B C ...: harness.config.expand_sweep), so that machine drift lands on each configuration alike, and
one fork server serves them all. The sweep runs the union of the lines' axes narrowed to the lines themselves
(two lines `--model a --ranks 16` and `--model b --ranks 64` are 2 configurations, not 4).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from harness.backends import NAMES as BACKEND_NAMES
from harness.backends import QUANTS
from harness.config import RunRequest, SweepSpec
from harness.errors import UserError, UserErrors
from harness.setting_axes import SETTING_AXES, add_setting_axes

AXES = ("ranks", "backends", "quants", *(a.axis for a in SETTING_AXES))  # a line's flags besides --model
EXAMPLE = "--model llama1B --ranks 16 --backends hf --quants none"


class _LineParser(argparse.ArgumentParser):
    """Raises instead of printing the usage and exiting: a bad line is one error naming the file and line."""

    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _line_parser() -> argparse.ArgumentParser:
    p = _LineParser(prog="cells", add_help=False)
    p.add_argument("--model")
    p.add_argument("--ranks", type=int, nargs="+")
    p.add_argument("--backends", nargs="+", choices=BACKEND_NAMES)
    p.add_argument("--quants", nargs="+", choices=QUANTS)
    add_setting_axes(p)
    return p


@dataclass(frozen=True)
class Cell:
    """One line of the file: its model (as given) and its axes, typed and checked by the spec they narrow."""

    where: str  # 'cells.txt line 2', for messages
    model: str
    spec: SweepSpec  # the spec narrowed to this line (its axes say which runs the line names)

    def matches(self, req: RunRequest, names: Mapping[str, str]) -> bool:
        """Whether `req` is one of this line's runs; `names`: each model as given -> its candidate's name."""
        axes = self.spec.axes
        if req.candidate.name != names.get(self.model, self.model):
            return False
        if req.lora.rank not in axes.ranks or req.backend not in axes.backends or req.quant not in axes.quants:
            return False
        return any(
            all(
                getattr(getattr(req, section), field) == value
                for section, fs in cell.items()
                for field, value in fs.items()
            )
            for cell in axes.setting_cells()
        )


def read_cells(path: str, spec: SweepSpec, narrow: Callable[[argparse.Namespace, str], SweepSpec]) -> list[Cell]:
    """The file's lines as cells; `narrow(line_args, where)` is `spec` narrowed to a line's axes (a bad value is
    the spec's own one-line error). Blank lines and `#` comments are skipped."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"--cells {path}: file not found; give a file of configurations, one per line ({EXAMPLE})")
    parser = _line_parser()
    cells: list[Cell] = []
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--cells {path}: cannot read it as UTF-8 text ({e}); save it as text, one line each") from None
    for n, text in enumerate(lines, 1):
        where = f"{path} line {n}"
        try:
            words = shlex.split(text, comments=True)
        except ValueError as e:  # an unclosed quote
            raise UserError(f"{where}: {e}; write it as bench options, e.g. {EXAMPLE}") from None
        if not words:
            continue
        try:
            ns = parser.parse_args(words)
        except ValueError as e:
            raise UserError(
                f"{where}: {e}; a line holds --model and optionally --ranks, --backends, --quants and the setting "
                f"axes (e.g. {EXAMPLE}); other settings go on the command line"
            ) from None
        if not ns.model:
            raise UserError(f"{where}: no --model; each line names one model's configuration, e.g. {EXAMPLE}")
        try:
            narrowed = narrow(ns, where)
        except UserError as e:  # the spec's own message, naming the flag: prefixed with the file and line
            raise UserErrors([f"{where}: {line}" for line in getattr(e, "lines", None) or [str(e)]]) from None
        cells.append(Cell(where, ns.model, narrowed))
    if not cells:
        raise UserError(f"--cells {path}: no configuration in it; give one per line, e.g. {EXAMPLE}")
    return cells


def union_axes(cells: list[Cell]) -> dict[str, Any]:
    """The axes of a spec holding every cell's runs (and more: CellFilter narrows it to theirs), in file order."""
    out: dict[str, Any] = {"candidates": list(dict.fromkeys(c.model for c in cells))}
    for axis in AXES:
        values: list[Any] = []
        for c in cells:
            for v in getattr(c.spec.axes, axis) or []:
                if v not in values:
                    values.append(v)
        if values:
            out[axis] = values
    return out


class CellFilter:
    """The preflight's filter (`keep`): a request is kept when some line names it. It notes which lines named a
    run, so that a line naming none (a model the preflight resolved to another name, say) is an error."""

    def __init__(self, cells: list[Cell]) -> None:
        self.cells = cells
        self._named: set[int] = set()

    def __call__(self, req: RunRequest, names: Mapping[str, str]) -> bool:
        hits = [i for i, c in enumerate(self.cells) if c.matches(req, names)]
        self._named.update(hits)
        return bool(hits)

    def check(self) -> None:
        for i, c in enumerate(self.cells):
            if i not in self._named:
                raise UserError(
                    f"{c.where}: names no run of the spec ({c.model}); check the name (`lora-harness list`)"
                )
