"""The settings the runs ran with, read from their run files' requests (not from the spec, whose description
states its own settings and which the command line may have changed): the report's header states these."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from harness.result import RunResult


def _values(runs: list[RunResult], get: Callable[[RunResult], Any]) -> list[Any]:
    """The distinct values over the runs, in their order."""
    return list(dict.fromkeys(get(r) for r in runs))


def _one(values: Iterable[Any], show: Callable[[Any], str]) -> str:
    return " or ".join(show(v) for v in values)


def _steps(r: RunResult) -> str:
    t = r.request.train
    return f"{t.max_steps} steps" if t.max_steps is not None else f"{t.epochs:g} epochs"


def ran_with(runs: Iterable[RunResult]) -> str | None:
    """'2 steps (batch 4), 8 training rows, 2 held-out prompts, 4 new tokens, learning rate 0.001, max length 128':
    each setting as the runs' requests hold it; where runs differ, each value ('2 or 25 steps'). None: no runs."""
    runs = list(runs)
    if not runs:
        return None
    batch = _values(runs, lambda r: (r.request.train.batch_size, r.request.train.grad_accum))
    parts = [
        _one(_values(runs, _steps), str)
        + " (batch "
        + _one(batch, lambda b: f"{b[0]}" + (f" x {b[1]} accumulated" if b[1] > 1 else ""))
        + ")",
        _one(_values(runs, lambda r: r.request.data.train_rows), str) + " training rows",
        _one(_values(runs, lambda r: r.request.data.eval_rows), str) + " held-out prompts",
    ]
    grade = _values(runs, lambda r: r.request.data.grade_rows)
    if grade != [0]:
        parts.append(_one(grade, str) + " grade rows")
    parts += [
        _one(_values(runs, lambda r: r.request.generation.max_new_tokens), str) + " new tokens",
        "learning rate " + _one(_values(runs, lambda r: r.request.train.learning_rate), lambda v: f"{v:g}"),
        "max length " + _one(_values(runs, lambda r: r.request.train.max_length), str),
    ]
    return ", ".join(parts)
