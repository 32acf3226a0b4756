"""Row selection: which examples a run trains on, answers and scores (eval), and answers for grading by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.data.examples import Example, Splits
from harness.errors import UserError


def select_rows(
    examples: Sequence[Example], train_rows: int, eval_rows: int, grade_rows: int, source: str | Path = "data"
) -> Splits:
    """train: the first `train_rows` train-split rows with a reference; eval: the next `eval_rows` of them
    (held out, never trained on); grade: the first `grade_rows` valid-split rows (no reference needed)."""
    for name, n in (("train_rows", train_rows), ("eval_rows", eval_rows), ("grade_rows", grade_rows)):
        if n < 0:
            raise UserError(f"{source}: data.{name} is {n}; use 0 or more")
    referenced = [ex for ex in examples if ex.split == "train" and ex.answer is not None]
    if train_rows + eval_rows > len(referenced):
        raise UserError(
            f"{source}: asked for {train_rows} train + {eval_rows} eval rows ({train_rows + eval_rows}) with answers, "
            f"but the file has {len(referenced)} train rows with answers; lower --train-rows or --prompts "
            f"(data.train_rows / data.eval_rows in a spec)"
        )
    valid = [ex for ex in examples if ex.split == "valid"]
    if grade_rows > len(valid):
        raise UserError(
            f"{source}: asked for {grade_rows} grade rows, but the file has {len(valid)} valid rows; "
            f"lower data.grade_rows in the spec"
        )
    return Splits(
        train=referenced[:train_rows],
        eval=referenced[train_rows : train_rows + eval_rows],
        grade=valid[:grade_rows],
    )
