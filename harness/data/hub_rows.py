"""A hub data set's rows as examples: read by datasets.load_dataset from the snapshot folder, then one of the
registry's formats by its columns (or `data.format`), else through a column mapping (`data.columns`: question,
answer, context, id; the usual names found without one)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.data.examples import Example, Split
from harness.data.formats import REGISTRY
from harness.data.paths import HubRef
from harness.data.records import clean, first_answer
from harness.errors import UserError

ROLES = ("question", "answer", "context", "id")
# column names found without a mapping, in order of preference
AUTO_COLUMNS = {
    "question": ("question", "instruction", "prompt", "query", "input_data", "input"),
    "answer": ("answer", "output", "response", "completion", "answers", "output_data", "target"),
    "context": ("context", "passage"),
    "id": ("id", "index"),
}


def parse_columns(text: str, source: str = "--data-columns") -> dict[str, str]:
    """'question=instruction,answer=output' -> {"question": "instruction", "answer": "output"}."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        role, sep, column = (x.strip() for x in part.partition("="))
        if not sep or not column or role not in ROLES:
            raise UserError(
                f"{source}: '{part}' is not ROLE=COLUMN with ROLE one of {', '.join(ROLES)} "
                f"(e.g. question=instruction,answer=output,context=input)"
            )
        out[role] = column
    if not out:
        raise UserError(f"{source}: give ROLE=COLUMN pairs, e.g. question=instruction,answer=output")
    return out


def read_hub_rows(folder: Path, ref: HubRef) -> list[dict[str, Any]]:
    """The split's rows, read by datasets.load_dataset from the repository's snapshot folder."""
    import datasets

    label = ref.text
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # preparing a few files: a bar would only break the one-line errors
    try:
        ds = datasets.load_dataset(str(folder), split=ref.split, cache_dir=os.environ.get("HF_DATASETS_CACHE"))
    except ValueError as e:
        first = (str(e).strip().splitlines() or ["?"])[0][:200]
        raise UserError(f"{label}: cannot read split '{ref.split}' ({first}); name a split the data set has") from None
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise UserError(f"{label}: datasets cannot read it ({type(e).__name__}: {first})") from None
    finally:
        if bars:
            datasets.enable_progress_bars()
    if not isinstance(ds, datasets.Dataset):
        raise UserError(f"{label}: not one split; write org/name:SPLIT (e.g. :train)")
    return ds.to_list()


def hub_examples(rows: list[dict[str, Any]], where: str, fmt: str, columns: dict[str, str]) -> list[Example]:
    """A hub split's rows as examples: a known format by its columns (or data.format), else the mapping."""
    if not rows:
        raise UserError(f"{where}: the split has no rows; name another split (org/name:SPLIT)")
    names = list(rows[0])
    label = Path(where)
    records = [(f"row {i}", r) for i, r in enumerate(rows)]
    if not columns:
        for f in REGISTRY:
            if f.from_records and (fmt == f.name or (fmt == "auto" and f.hub_columns and f.hub_columns <= set(names))):
                return f.from_records(label, records)
    return _mapped(records, where, names, columns)


def _mapped(
    records: list[tuple[str, dict[str, Any]]], where: str, names: list[str], columns: dict[str, str]
) -> list[Example]:
    """Rows through the column mapping (given, else the usual names)."""
    found = ", ".join(names)
    mapping: dict[str, str] = {}
    for role in ROLES:
        given = columns.get(role)
        if given is not None and given not in names:
            raise UserError(f"{where}: no column '{given}' for {role} (columns: {found}); fix --data-columns")
        auto = next((c for c in AUTO_COLUMNS[role] if c in names and c not in mapping.values()), None)
        if given or auto:
            mapping[role] = given or auto  # type: ignore[assignment]
    for role in ("question", "answer"):
        if role not in mapping:
            raise UserError(
                f"{where}: cannot tell which column is the {role} (columns: {found}); "
                f"map them with --data-columns question=COLUMN,answer=COLUMN (data.columns in a spec)"
            )
    split_col = "data_type" if "data_type" in names else None  # the team's CSV on the hub: train / valid rows
    examples = []
    for i, (w, r) in enumerate(records):
        rid = clean(r.get(mapping["id"])) if "id" in mapping else str(i)
        question = clean(r.get(mapping["question"]))
        if not question:
            raise UserError(f"{where}: {w}: column '{mapping['question']}' (question) is empty; fix or drop the row")
        answer = first_answer(r.get(mapping["answer"])) if isinstance(r.get(mapping["answer"]), (dict, list)) else (
            clean(r.get(mapping["answer"])) or None)  # fmt: skip
        context = (clean(r.get(mapping["context"])) or None) if "context" in mapping else None
        split: Split = "valid" if split_col and clean(r.get(split_col)) == "valid" else "train"
        examples.append(Example(id=rid or str(i), question=question, answer=answer, context=context,
                                key_phrase=answer if context else None, split=split))  # fmt: skip
    return examples
