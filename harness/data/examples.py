"""What every data format becomes: `Example` (one question with its reference) and `Splits` (the rows a run uses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Split = Literal["train", "valid"]
SPLITS = ("train", "valid")


@dataclass(frozen=True)
class Example:
    id: str  # row index / id from the file
    question: str
    answer: str | None = None  # reference answer; None when the row has none
    context: str | None = None  # KorQuAD passage
    key_phrase: str | None = None  # for contains-match scoring (KorQuAD answer text)
    split: Split = "train"


@dataclass(frozen=True)
class Splits:
    train: list[Example] = field(default_factory=list)  # fine-tuning rows (with references)
    eval: list[Example] = field(default_factory=list)  # held-out rows with references, scored automatically
    grade: list[Example] = field(default_factory=list)  # `valid` rows, answered for grading by hand
