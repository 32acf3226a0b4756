"""The data formats, in one registry: each format's name, how a file (or a hub split) is recognised as it, its
loader and the fields it needs. `FORMATS` (what `data.format` accepts) is derived from it.

Add a format: write its loader (a module beside this one: `(path, text) -> list[Example]`, and `(path, records)
-> list[Example]` when a hub split can be in it), add one `DataFormat` to `REGISTRY`, and add its name to
`DataSettings.format` in harness/config/request.py (a lower floor, which cannot import this; `check_config_formats`
below fails at import when the two differ).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data.alpaca import alpaca_examples, load_alpaca_file
from harness.data.examples import Example
from harness.data.korquad import korquad_examples, load_korquad_file
from harness.data.records import parse_json, read_jsonl, read_text
from harness.data.team_csv import load_team_csv
from harness.errors import UserError

Records = list[tuple[str, dict[str, Any]]]  # (where, record): "line 3", "record 2", "row 7"


@dataclass(frozen=True)
class DataFormat:
    name: str  # the value of data.format
    fields: tuple[str, ...]  # what a record holds, as the messages name them
    suffixes: tuple[str, ...]  # file extensions this format is read from
    load_file: Callable[[Path, str], list[Example]]  # (path, the file's text) -> examples, in file order
    from_records: Callable[[Path, Records], list[Example]] | None = None  # a hub split's rows in this format
    by_suffix: bool = False  # the extension alone says it (a .csv file is the team's CSV)
    document_key: str | None = None  # a top-level JSON object with this key is this format
    record_keys: frozenset[str] = frozenset()  # a JSON file whose first record has these keys is this format
    hub_columns: frozenset[str] = frozenset()  # a hub split with these columns is this format (no column mapping)


REGISTRY: tuple[DataFormat, ...] = (
    DataFormat(
        name="ohlora_csv",
        fields=("index", "data_type", "input_data", "output_data", "output_message", "memory"),
        suffixes=(".csv", ".tsv"),
        load_file=load_team_csv,
        by_suffix=True,
    ),
    DataFormat(
        name="alpaca",
        fields=("instruction", "input", "output"),
        suffixes=(".json", ".jsonl"),
        load_file=load_alpaca_file,
        from_records=alpaca_examples,
        record_keys=frozenset({"instruction", "output"}),
        hub_columns=frozenset({"instruction", "output"}),
    ),
    DataFormat(
        name="korquad",
        fields=("context", "question", "answers"),
        suffixes=(".json", ".jsonl"),
        load_file=load_korquad_file,
        from_records=korquad_examples,
        document_key="data",  # KorQuAD v1 / SQuAD nested JSON
        record_keys=frozenset({"context", "question"}),
        hub_columns=frozenset({"context", "question", "answers"}),
    ),
)
BY_NAME = {f.name: f for f in REGISTRY}
FORMATS = ("auto", *BY_NAME)  # what data.format accepts
QUIET_SUFFIXES = (".tsv",)  # read, but not named in the messages


def _or(items: Iterable[str]) -> str:
    """'a, b or c'."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def check_config_formats(accepted: Iterable[str]) -> None:
    """The formats harness/config/request.py accepts are the registry's (config sits below data and cannot derive them)."""
    if tuple(accepted) != FORMATS:
        raise RuntimeError(
            f"DataSettings.format in harness/config/request.py accepts {tuple(accepted)} but the data format registry "
            f"(harness/data/formats.py) has {FORMATS}: make them the same"
        )


def load_examples(path: Path, fmt: str = "auto") -> list[Example]:
    """Read a data file into examples, in file order."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"{path}: unknown data format '{fmt}'; use one of {', '.join(FORMATS)}")
    text = read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    examples = BY_NAME[fmt].load_file(path, text)
    if not examples:
        raise UserError(f"{path}: no data rows; add rows to the file")
    return examples


def detect_format(path: Path, text: str | None = None) -> str:
    """The format of a data file, from its extension and its columns / fields."""
    path = Path(path)
    ext = path.suffix.lower()
    for f in REGISTRY:
        if f.by_suffix and ext in f.suffixes:
            return f.name
    if not any(ext in f.suffixes for f in REGISTRY):
        named = dict.fromkeys(s for f in REGISTRY for s in f.suffixes if s not in QUIET_SUFFIXES)
        raise UserError(
            f"{path}: cannot tell the data format from the extension '{ext or '(none)'}'; "
            f"use {_or(named)}, or set data.format to {_or(BY_NAME)}"
        )
    if text is None:
        text = read_text(path)
    if ext == ".json":
        parsed = parse_json(path, text)
        for f in REGISTRY:
            if f.document_key and isinstance(parsed, dict) and f.document_key in parsed:
                return f.name
        first = parsed[0] if isinstance(parsed, list) and parsed else parsed
    else:
        first = next((rec for _, rec in read_jsonl(path, text)), None)
    keys = set(first) if isinstance(first, dict) else set()
    for f in REGISTRY:
        if f.record_keys and f.record_keys <= keys:
            return f.name
    found = ", ".join(sorted(keys)) or "none"
    expected = _or(f"{'/'.join(f.fields)} ({f.name})" for f in REGISTRY if f.record_keys)
    raise UserError(
        f"{path}: cannot tell the data format: the first record has fields {found}; expected "
        f"{expected}, or set data.format"
    )
