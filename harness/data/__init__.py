"""Data layer: read a training file into `Example`s, pick rows, render prompts.

Formats:

* ``ohlora_csv`` - the team's CSV: ``index,data_type,input_data,output_data,output_message,memory``
  (the team's own file leaves the first header name empty). ``data_type`` is ``train`` or ``valid``;
  ``output_data`` is the reference answer (empty on ``valid`` rows).
* ``alpaca`` - ``instruction``, ``input``, ``output`` records in a ``.json`` list or ``.jsonl``.
* ``korquad`` - KorQuAD v1 / SQuAD nested JSON (``{"data": [{"paragraphs": [{"context", "qas"}]}]}``)
  or flat records ``{context, question, answers: {text: [...], answer_start: [...]}}``.
* a hub data set, ``org/name[:split]`` (no local file of that name): its rows through ``datasets.load_dataset``
  (fetched by ``harness.hub_data``, revision pinned), read as one of the formats above when its columns are
  theirs, else through a column mapping (``data.columns``: question, answer, context, id; the usual names found
  without one).

Every problem with the file is a one-line `UserError` naming the file, the row or line, and the field.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.config import REPO_ROOT
from harness.errors import UserError
from harness.project import source_root

FORMATS = ("auto", "ohlora_csv", "alpaca", "korquad")
Split = Literal["train", "valid"]

CSV_INDEX_NAMES = ("", "index", "id", "Unnamed: 0")
CSV_REQUIRED = ("data_type", "input_data", "output_data")
SPLITS = ("train", "valid")
PLACEHOLDER = re.compile(r"\{(question|context)\}")


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


# ---------------------------------------------------------------- paths and hashes


def resolve_data_path(path_str: str) -> Path:
    """Where a data path (from the command line or a spec) points.

    Absolute paths are taken as given. Relative paths resolve against the current directory; one
    that is not there is tried in the project's own folder (the source tree, or the installed
    package's copy), where the shipped specs' sample data (``data/...``) lives. When neither has
    it, the current directory's path is returned, so the error names where the user looked.
    """
    p = Path(path_str).expanduser()
    if p.is_absolute():
        return p
    here = (Path.cwd() / p).resolve()
    if here.exists():
        return here
    project = (REPO_ROOT / p).resolve()
    return project if project.exists() else here


def stored_data_path(path_str: str) -> str:
    """The form a run request keeps: the run's child starts in a scratch folder, so a path relative to
    the current directory would not reach the file there. A file in the project's folder, or beside a
    source tree (e.g. ``../shared/...``), keeps a path relative to the project (the form the shipped
    specs and earlier results use, so their run keys do not change); anything else becomes absolute."""
    if hub_ref(path_str) is not None:
        return path_str.strip()  # a hub data set: the child resolves it the same way
    path = resolve_data_path(path_str)
    try:
        rel = Path(os.path.relpath(path, REPO_ROOT))
    except ValueError:  # another drive (Windows)
        return str(path)
    ups = 0
    for part in rel.parts:
        if part != "..":
            break
        ups += 1
    if ups == 0 or (ups == 1 and source_root() is not None):
        return rel.as_posix()
    return str(path)


# ---------------------------------------------------------------- hub data sets

HUB_REF = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?::(?P<split>[\w.%+\-\[\]:]+))?")
FILE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")  # a missing file, not a hub id
ROLES = ("question", "answer", "context", "id")
# column names found without a mapping, in order of preference
AUTO_COLUMNS = {
    "question": ("question", "instruction", "prompt", "query", "input_data", "input"),
    "answer": ("answer", "output", "response", "completion", "answers", "output_data", "target"),
    "context": ("context", "passage"),
    "id": ("id", "index"),
}


@dataclass(frozen=True)
class HubRef:
    repo: str
    split: str

    @property
    def text(self) -> str:
        return f"{self.repo}:{self.split}"


def hub_ref(path_str: str) -> HubRef | None:
    """`org/name[:split]` when no local file or folder of that name exists (a local path always wins)."""
    text = path_str.strip()
    m = HUB_REF.fullmatch(text)
    if m is None or Path(m["repo"]).suffix.lower() in FILE_SUFFIXES or resolve_data_path(text).exists():
        return None
    return HubRef(m["repo"], m["split"] or "train")


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


@dataclass(frozen=True)
class Loaded:
    examples: list[Example]
    where: str  # what error messages name: the file, or org/name:split
    data_id: str  # the file's sha256, or that of org/name:split@commit (names a stand-in tokenizer trained on it)
    revision: str | None = None  # a hub data set's commit sha


_HUB_LOADS: dict[tuple[str, str, str, str], list[Example]] = {}


def load_data(d: Any) -> Loaded:
    """A run's data (`DataSettings`): a local file, or a hub data set (fetched, its commit resolved)."""
    ref = hub_ref(d.path)
    if ref is None:
        path = resolve_data_path(d.path)
        if d.columns:
            raise UserError(
                f"{path}: data.columns (--data-columns) maps a hub data set's columns; a local file's follow its "
                f"format ({', '.join(FORMATS[1:])}); drop the mapping or fix the path"
            )
        return Loaded(load_examples(path, d.format), str(path), file_sha256(path))
    from harness.hub_data import fetch_dataset

    folder, sha = fetch_dataset(ref.repo, d.revision, ref.text)
    mapping = dict(d.columns or {})
    key = (ref.repo, ref.split, sha, json.dumps([d.format, mapping], sort_keys=True))
    if key not in _HUB_LOADS:
        _HUB_LOADS[key] = hub_examples(_hub_rows(folder, ref), ref.text, d.format, mapping)
    data_id = hashlib.sha256(f"{ref.text}@{sha}".encode()).hexdigest()
    return Loaded(_HUB_LOADS[key], ref.text, data_id, sha)


def _hub_rows(folder: Path, ref: HubRef) -> list[dict[str, Any]]:
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
    if not columns and (fmt == "alpaca" or (fmt == "auto" and {"instruction", "output"} <= set(names))):
        return _load_alpaca(label, records)
    if not columns and (fmt == "korquad" or (fmt == "auto" and {"context", "question", "answers"} <= set(names))):
        return [_korquad_example(label, f"{w} (id {_record_id(r, i)})", _record_id(r, i), r, r.get("context"))
                for i, (w, r) in enumerate(records)]  # fmt: skip
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
        rid = _clean(r.get(mapping["id"])) if "id" in mapping else str(i)
        question = _clean(r.get(mapping["question"]))
        if not question:
            raise UserError(f"{where}: {w}: column '{mapping['question']}' (question) is empty; fix or drop the row")
        answer = _first_answer(r.get(mapping["answer"])) if isinstance(r.get(mapping["answer"]), (dict, list)) else (
            _clean(r.get(mapping["answer"])) or None)  # fmt: skip
        context = (_clean(r.get(mapping["context"])) or None) if "context" in mapping else None
        split: Split = "valid" if split_col and _clean(r.get(split_col)) == "valid" else "train"
        examples.append(Example(id=rid or str(i), question=question, answer=answer, context=context,
                                key_phrase=answer if context else None, split=split))  # fmt: skip
    return examples


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes (part of the run key)."""
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        raise UserError(f"{path}: data file not found; check --data (DATA=) or data.path in the spec") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a data file; point data.path at a file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the data file ({e.strerror}); check data.path") from None
    return h.hexdigest()


# ---------------------------------------------------------------- loading


def load_examples(path: Path, fmt: str = "auto") -> list[Example]:
    """Read a data file into examples, in file order."""
    path = Path(path)
    if fmt not in FORMATS:
        raise UserError(f"{path}: unknown data format '{fmt}'; use one of {', '.join(FORMATS)}")
    text = _read_text(path)
    if fmt == "auto":
        fmt = detect_format(path, text)
    if fmt == "ohlora_csv":
        examples = _load_ohlora_csv(path, text)
    elif fmt == "alpaca":
        examples = _load_alpaca(path, _read_records(path, text))
    else:
        examples = _load_korquad(path, text)
    if not examples:
        raise UserError(f"{path}: no data rows; add rows to the file")
    return examples


def detect_format(path: Path, text: str | None = None) -> str:
    """The format of a data file, from its extension and its columns / fields."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext in (".csv", ".tsv"):
        return "ohlora_csv"
    if ext not in (".json", ".jsonl"):
        raise UserError(
            f"{path}: cannot tell the data format from the extension '{ext or '(none)'}'; "
            f"use .csv, .json or .jsonl, or set data.format to ohlora_csv, alpaca or korquad"
        )
    if text is None:
        text = _read_text(path)
    if ext == ".json":
        parsed = _parse_json(path, text)
        if isinstance(parsed, dict) and "data" in parsed:
            return "korquad"
        first = parsed[0] if isinstance(parsed, list) and parsed else parsed
    else:
        first = next((rec for _, rec in _read_jsonl(path, text)), None)
    keys = set(first) if isinstance(first, dict) else set()
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"context", "question"} <= keys:
        return "korquad"
    found = ", ".join(sorted(keys)) or "none"
    raise UserError(
        f"{path}: cannot tell the data format: the first record has fields {found}; expected "
        f"instruction/input/output (alpaca) or context/question/answers (korquad), or set data.format"
    )


def _read_text(path: Path) -> str:
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


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


# ---------------------------------------------------------------- team CSV


def _load_ohlora_csv(path: Path, text: str) -> list[Example]:
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
        rid = _clean(row[id_col]) if id_col is not None else str(row_no)
        if not rid:
            rid = str(row_no)
        if rid in seen:
            raise UserError(f"{path}: line {line}: row id '{rid}' repeats line {seen[rid]}; give each row its own id")
        seen[rid] = line
        data_type = _clean(row[col["data_type"]])
        if data_type not in SPLITS:
            raise UserError(f"{path}: line {line} (row {rid}): field 'data_type' is '{data_type}'; use train or valid")
        split: Split = "train" if data_type == "train" else "valid"
        question = _clean(row[col["input_data"]])
        if not question:
            raise UserError(f"{path}: line {line} (row {rid}): field 'input_data' is empty; write the question")
        answer = _clean(row[col["output_data"]]) or None
        examples.append(Example(id=rid, question=question, answer=answer, split=split))
        row_no += 1
    return examples


# ---------------------------------------------------------------- JSON / JSONL


def _parse_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data" and path.suffix.lower() == ".json":
            # one record per line in a .json file: read it as JSONL
            return [rec for _, rec in _read_jsonl(path, text)]
        raise UserError(f"{path}: line {e.lineno}, column {e.colno}: malformed JSON ({e.msg}); fix the file") from None


def _read_jsonl(path: Path, text: str) -> Iterable[tuple[int, Any]]:
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


def _read_records(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    """(where, record) pairs from a .json list or a .jsonl file; `where` is 'line N' or 'record N'."""
    if path.suffix.lower() == ".jsonl":
        pairs = [(f"line {n}", rec) for n, rec in _read_jsonl(path, text)]
    else:
        parsed = _parse_json(path, text)
        if not isinstance(parsed, list):
            raise UserError(f"{path}: expected a JSON list of records at the top level; got {type(parsed).__name__}")
        pairs = [(f"record {i}", rec) for i, rec in enumerate(parsed, start=1)]
    for where, rec in pairs:
        if not isinstance(rec, dict):
            raise UserError(f"{path}: {where}: expected a JSON object, got {type(rec).__name__}; fix the record")
    return pairs


def _text_field(path: Path, where: str, rec: dict[str, Any], name: str, required: bool = True) -> str:
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


def _record_id(rec: dict[str, Any], index: int) -> str:
    rid = rec.get("id")
    return str(rid) if isinstance(rid, (str, int)) and str(rid).strip() else str(index)


def _load_alpaca(path: Path, records: list[tuple[str, dict[str, Any]]]) -> list[Example]:
    examples = []
    for i, (where, rec) in enumerate(records):
        instruction = _text_field(path, where, rec, "instruction")
        if not instruction:
            raise UserError(f"{path}: {where}: field 'instruction' is empty; write the instruction")
        extra = _text_field(path, where, rec, "input", required=False)
        output = _text_field(path, where, rec, "output")
        question = f"{instruction}\n{extra}" if extra else instruction
        examples.append(Example(id=_record_id(rec, i), question=question, answer=output or None, split="train"))
    return examples


# ---------------------------------------------------------------- KorQuAD


def _load_korquad(path: Path, text: str) -> list[Example]:
    if path.suffix.lower() == ".json":
        parsed = _parse_json(path, text)
        if isinstance(parsed, dict):
            return _load_korquad_nested(path, parsed)
    records = _read_records(path, text)
    examples = []
    for i, (where, rec) in enumerate(records):
        rid = _record_id(rec, i)
        examples.append(_korquad_example(path, f"{where} (id {rid})", rid, rec, rec.get("context")))
    return examples


def _load_korquad_nested(path: Path, doc: dict[str, Any]) -> list[Example]:
    data = doc.get("data")
    if not isinstance(data, list):
        found = ", ".join(sorted(doc)) or "none"
        raise UserError(f"{path}: expected KorQuAD v1 JSON with a 'data' list (fields found: {found})")
    examples = []
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise UserError(f"{path}: data[{a}]: missing field 'paragraphs' (a list); fix the file")
        for p, para in enumerate(paragraphs):
            where_p = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                raise UserError(f"{path}: {where_p}: missing field 'qas' (a list); fix the file")
            for q, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    raise UserError(f"{path}: {where_p}.qas[{q}]: expected a JSON object; fix the file")
                rid = _record_id(qa, len(examples))
                where = f"{where_p}.qas[{q}] (id {rid})"
                examples.append(_korquad_example(path, where, rid, qa, para.get("context")))
    return examples


def _korquad_example(path: Path, where: str, rid: str, rec: dict[str, Any], context: Any) -> Example:
    if not isinstance(context, str) or not context.strip():
        raise UserError(f"{path}: {where}: field 'context' is missing or empty; add the passage")
    question = _text_field(path, where, rec, "question")
    if not question:
        raise UserError(f"{path}: {where}: field 'question' is empty; write the question")
    answer = _first_answer(rec.get("answers"))
    if answer is None:
        raise UserError(
            f"{path}: {where}: field 'answers' has no answer text; give "
            f'"answers": {{"text": [...], "answer_start": [...]}} or drop the row'
        )
    return Example(id=rid, question=question, answer=answer, context=context.strip(), key_phrase=answer, split="train")


def _first_answer(answers: Any) -> str | None:
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


# ---------------------------------------------------------------- row selection


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


# ---------------------------------------------------------------- prompts


def validate_template(template: str, examples: Iterable[Example] = ()) -> None:
    """A template must contain {question}; it must contain {context} exactly when the examples have one."""
    if "{question}" not in template:
        raise UserError(f"prompt template {template!r} has no {{question}}; add it")
    has_ctx = "{context}" in template
    for ex in examples:
        _check_context(template, has_ctx, ex)


def _check_context(template: str, has_ctx: bool, ex: Example) -> None:
    if ex.context is not None and not has_ctx:
        raise UserError(
            f"prompt template {template!r} has no {{context}} but example {ex.id} has a passage (KorQuAD); "
            f"set data.prompt_template to one with {{context}} and {{question}}"
        )
    if ex.context is None and has_ctx:
        raise UserError(
            f"prompt template {template!r} uses {{context}} but example {ex.id} has no passage; "
            f"use a template without {{context}} for this data file"
        )


def render_prompt(template: str, ex: Example) -> str:
    """The prompt for one example. It never ends in whitespace: the completion brings the leading space,
    so the tokenized prompt is a prefix of the tokenized prompt + completion."""
    if "{question}" not in template:
        raise UserError(f"prompt template {template!r} has no {{question}}; add it")
    _check_context(template, "{context}" in template, ex)
    values = {"question": ex.question, "context": ex.context or ""}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template).rstrip()


def render_completion(ex: Example, eos: str | None) -> str:
    """' ' + the reference answer (+ the end token)."""
    if ex.answer is None:
        raise UserError(f"example {ex.id} has no reference answer; it cannot be a training row")
    return " " + ex.answer.strip() + (eos or "")
