"""Reading a data file's text and its JSON records, with one-line errors naming the file, the line or record
and the field: what every loader shares."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import UserError


def read_text(path: Path) -> str:
    """The file as UTF-8 text (a BOM dropped); missing, a folder, unreadable, not UTF-8 or empty is a UserError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: data file not found; check --data (DATA=) or data.path in the spec") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a data file; point data.path at a file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the data file ({e.strerror}); check data.path") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{path}: line {line}: not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
    if not text.strip():
        raise UserError(f"{path}: the file is empty; add a header and data rows")
    return text


def clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


def parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and path.suffix.lower() == ".json":
            # one record per line in a .json file: read it as JSONL
            return [rec for _, rec in read_jsonl(path, text)]
        raise UserError(f"{path}: line {e.lineno}, column {e.colno}: malformed JSON ({e.msg}); fix the file") from None


def read_jsonl(path: Path, text: str) -> Iterable[tuple[int, Any]]:
    """(line number, record) for each non-blank line."""
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(
                f"{path}: line {n}: malformed JSON ({e.msg} at column {e.colno}); each line must be one JSON object"
            ) from None


def read_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs from a .json list or a .jsonl file; `where` is 'line N' or 'record N'."""
    if path.suffix.lower() == ".jsonl":
        pairs = [(f"line {n}", rec) for n, rec in read_jsonl(path, text)]
    else:
        parsed = parse_json(path, text)
        if not isinstance(parsed, list):
            raise UserError(f"{path}: expected a JSON list of records at the top level; got {type(parsed).__name__}")
        pairs = [(f"record {i}", rec) for i, rec in enumerate(parsed, start=1)]
    for where, rec in pairs:
        if not isinstance(rec, dict):
            raise UserError(f"{path}: {where}: expected a JSON object, got {type(rec).__name__}; fix the record")
    return pairs


def text_field(path: Path, where: str, rec: dict[str, Any], name: str, required: bool = True) -> str:
    if name not in rec:
        if not required:
            return ""
        found = ", ".join(sorted(rec)) or "none"
        raise UserError(f"{path}: {where}: missing field '{name}' (fields found: {found}); add it")
    value = rec[name]
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)):
        raise UserError(f"{path}: {where}: field '{name}' must be text, got {type(value).__name__}")
    return str(value).strip()


def record_id(rec: dict[str, Any], index: int) -> str:
    rid = rec.get("id")
    return str(rid) if isinstance(rid, (str, int)) and str(rid).strip() else str(index)


def first_answer(answers: Any) -> str | None:
    """First non-empty answer text from SQuAD-style {text: [...]} or a list of {text, answer_start}."""
    texts: list[Any] = []
    if isinstance(answers, dict):
        t = answers.get("text")
        texts = t if isinstance(t, list) else [t]
    elif isinstance(answers, list):
        texts = [a.get("text") if isinstance(a, dict) else a for a in answers]
    for t in texts:
        if isinstance(t, str) and t.strip():
            return t.strip()
    return None
