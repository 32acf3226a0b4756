"""Token counts of a run's training rows as its tokenizer cuts them: lengths, their mean and max, and the rows
the trainer will cut to max_length. Called in the run once the tokenizer is loaded and the rows are rendered."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any


def token_lengths(tokenizer: Any, rows: Iterable[Mapping[str, str]]) -> list[int]:
    """Tokens of each training row (prompt + completion), as this tokenizer cuts them, before any max_length
    truncation. Call it in the run once the tokenizer is loaded and the rows are rendered."""
    return [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) for r in rows]


def token_stats(tokenizer: Any, rows: Iterable[Mapping[str, str]]) -> tuple[float | None, int | None]:
    """(mean, max) of `token_lengths`."""
    lengths = token_lengths(tokenizer, rows)
    if not lengths:
        return None, None
    return statistics.fmean(lengths), max(lengths)


def truncation(lengths: Iterable[int], max_length: int) -> tuple[int, int]:
    """(rows longer than max_length, the most tokens cut from one of them): the trainer cuts every training row
    to max_length, so those rows train on their start only."""
    cut = [n - max_length for n in lengths if n > max_length]
    return len(cut), max(cut, default=0)
