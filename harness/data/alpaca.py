"""Alpaca records (`alpaca`): ``instruction``, ``input``, ``output`` in a ``.json`` list or a ``.jsonl`` file
(or a hub split with those columns). The question is the instruction, with the input on the next line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.examples import Example
from harness.data.records import read_records, record_id, text_field
from harness.errors import UserError


def load_alpaca_file(path: Path, text: str) -> list[Example]:
    return alpaca_examples(path, read_records(path, text))


def alpaca_examples(path: Path, records: list[tuple[str, dict[str, Any]]]) -> list[Example]:
    """(where, record) pairs as examples; `path` names the file (or the hub split) in errors."""
    examples = []
    for i, (where, rec) in enumerate(records):
        instruction = text_field(path, where, rec, "instruction")
        if not instruction:
            raise UserError(f"{path}: {where}: field 'instruction' is empty; write the instruction")
        extra = text_field(path, where, rec, "input", required=False)
        output = text_field(path, where, rec, "output")
        question = f"{instruction}\n{extra}" if extra else instruction
        examples.append(Example(id=record_id(rec, i), question=question, answer=output or None, split="train"))
    return examples
