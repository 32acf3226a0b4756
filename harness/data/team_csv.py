"""The team's CSV (`ohlora_csv`): ``index,data_type,input_data,output_data,output_message,memory`` (the team's own
file leaves the first header name empty). ``data_type`` is ``train`` or ``valid``; ``output_data`` is the
reference answer (empty on ``valid`` rows). A ``.tsv`` file is read tab-separated."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.data.examples import SPLITS, Example, Split
from harness.data.records import clean
from harness.errors import UserError

CSV_INDEX_NAMES = ("", "index", "id", "Unnamed: 0")
CSV_REQUIRED = ("data_type", "input_data", "output_data")


def load_team_csv(path: Path, text: str) -> list[Example]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as e:
        raise UserError(f"{path}: line 1: cannot read the CSV header ({e}); fix the file") from None
    names = [h.strip() for h in header]
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        found = ", ".join(repr(n) for n in names)
        raise UserError(
            f"{path}: missing column '{missing[0]}' (columns found: {found}); the team CSV needs "
            f"index,data_type,input_data,output_data,output_message,memory"
        )
    col = {n: i for i, n in reversed(list(enumerate(names)))}  # first occurrence wins
    id_col = next((col[n] for n in CSV_INDEX_NAMES if n in col), None)

    examples: list[Example] = []
    seen: dict[str, int] = {}
    row_no = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise UserError(f"{path}: line {reader.line_num}: malformed CSV ({e}); fix the quoting") from None
        if not row or all(not c.strip() for c in row):
            continue
        line = reader.line_num
        if len(row) < len(names):
            raise UserError(
                f"{path}: line {line}: {len(row)} fields but the header has {len(names)}; fix the row (quote commas)"
            )
        if len(row) > len(names):
            raise UserError(
                f"{path}: line {line}: {len(row)} fields but the header has {len(names)}; "
                f"put text that contains commas in double quotes"
            )
        rid = clean(row[id_col]) if id_col is not None else str(row_no)
        if not rid:
            rid = str(row_no)
        if rid in seen:
            raise UserError(f"{path}: line {line}: row id '{rid}' repeats line {seen[rid]}; give each row its own id")
        seen[rid] = line
        data_type = clean(row[col["data_type"]])
        if data_type not in SPLITS:
            raise UserError(f"{path}: line {line} (row {rid}): field 'data_type' is '{data_type}'; use train or valid")
        split: Split = "train" if data_type == "train" else "valid"
        question = clean(row[col["input_data"]])
        if not question:
            raise UserError(f"{path}: line {line} (row {rid}): field 'input_data' is empty; write the question")
        answer = clean(row[col["output_data"]]) or None
        examples.append(Example(id=rid, question=question, answer=answer, split=split))
        row_no += 1
    return examples
