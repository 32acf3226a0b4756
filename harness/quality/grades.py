"""Human grades on the team's five-level scale, through a spreadsheet.

    export_sheet(results/<sweep>, grades.csv)   # one row per grade-row answer (else per answer), grade empty
    (graders fill `grade` with 최상 / 상 / 중 / 하 / 최하, or 5..1, and `comment`)
    import_sheet(grades.csv, results/<sweep>)   # validated, merged into results/<sweep>/grades.json

grades.json: {run_key: {stage: {answer_id: {"grade": int 1..5, "comment": str}}}}.

Run files are read as plain JSON (the `RunResult` field names), so this needs no pydantic. The
CSV is UTF-8 with a byte-order mark, which Excel needs to show Korean; on import a sheet that
Excel saved back in its Korean default (CP949) is read too. Text cells that a spreadsheet would
take for a formula (starting with = + - @) are written with a leading apostrophe. Line numbers in
errors are spreadsheet rows (the header is line 1).
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.atomic import atomic_write_text
from harness.errors import UserError
from harness.quality.bootstrap import ci_dict

GRADES: dict[str, int] = {"최상": 5, "상": 4, "중": 3, "하": 2, "최하": 1}
GRADE_NAMES: dict[int, str] = {v: k for k, v in GRADES.items()}
COLUMNS = (
    "run_key",
    "candidate",
    "rank",
    "backend",
    "quant",
    "stage",
    "answer_id",
    "prompt",
    "reference",
    "answer",
    "grade",
    "comment",
)
REQUIRED_COLUMNS = ("run_key", "stage", "answer_id", "grade")
GRADES_FILE = "grades.json"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = ("candidate", "prompt", "reference", "answer")


# ---------------------------------------------------------------- run files


def _run_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    runs = path / "runs"
    if path.is_dir() and runs.is_dir():
        return sorted(runs.glob("*.json"))
    raise UserError(
        f"{path}: not a run result file nor a results folder with runs/; give results/<sweep> or a run file"
    )


def _read_run(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable run result ({e.__class__.__name__}); fix or move the file") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not isinstance(raw.get("answers", []), list):
        raise UserError(f"{path}: not a run result (needs a 'key' and an 'answers' list); fix or move the file")
    return raw


def _get(d: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def _runs(path: Path) -> list[dict[str, Any]]:
    return [_read_run(p) for p in _run_files(path)]


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _safe_text(value: Any) -> str:
    text = _cell(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


# ---------------------------------------------------------------- export


def to_grade(answers: Any) -> list[dict[str, Any]]:
    """The answers of one run to put on the sheet: its grade rows (role "grade", the data's `valid` rows asked for
    with data.grade_rows) when it answered any; else every answer (a run without grade rows, or written before
    answers had roles), so the scored answers can be graded too."""
    answers = [a for a in answers or [] if isinstance(a, dict)]
    graded = [a for a in answers if a.get("role") == "grade"]
    return graded or answers


def export_sheet(results_dir_or_run_file: Path, out_csv: Path) -> int:
    """Write one row per answer to grade (`to_grade`) of the run file(s) to `out_csv` (UTF-8 with BOM);
    returns the row count."""
    rows: list[list[str]] = []
    for run in _runs(Path(results_dir_or_run_file)):
        req = run.get("request") or {}
        common = [
            run["key"],
            _safe_text(_get(req, "candidate", "name")),
            _cell(_get(req, "lora", "rank")),
            _cell(_get(req, "backend")),
            _cell(_get(req, "quant")),
        ]
        for ans in to_grade(run.get("answers")):
            rows.append(
                [
                    *common,
                    _cell(ans.get("stage")),
                    _cell(ans.get("id")),
                    _safe_text(ans.get("prompt")),
                    _safe_text(ans.get("reference")),
                    _safe_text(ans.get("answer")),
                    "",
                    "",
                ]
            )
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    atomic_write_text(Path(out_csv), "\ufeff" + buf.getvalue())
    return len(rows)


# ---------------------------------------------------------------- import


def parse_grade(value: str) -> int | None:
    """최상/상/중/하/최하 or 5..4..1 -> 5..1; blank -> None; anything else -> ValueError."""
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if text in GRADES:
        return GRADES[text]
    try:
        number = float(text)
    except ValueError:
        raise ValueError(text) from None
    if number.is_integer() and 1 <= number <= 5:
        return int(number)
    raise ValueError(text)


def _accepted() -> str:
    names = ", ".join(GRADES)
    numbers = ", ".join(str(v) for v in GRADES.values())
    return f"{names} or {numbers}"


def _read_csv(csv_path: Path) -> str:
    try:
        data = Path(csv_path).read_bytes()
    except OSError as e:
        raise UserError(f"{csv_path}: cannot read the grade sheet ({e.strerror or e.__class__.__name__})") from None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UserError(f"{csv_path}: neither UTF-8 nor CP949 text; save the sheet as CSV UTF-8")


def _match_id(cell: str, ids: set[str]) -> str | None:
    """The answer id a cell names; a spreadsheet may have dropped leading zeros of numeric ids ("007" -> "7")."""
    if cell in ids:
        return cell
    if cell.isdigit():
        hits = [i for i in ids if i.isdigit() and int(i) == int(cell)]
        if len(hits) == 1:
            return hits[0]
    return None


def import_sheet(csv_path: Path, results_dir: Path) -> int:
    """Validate every row of a filled sheet, then merge its grades into results_dir/grades.json.

    Rows with an empty grade are skipped; grades already in grades.json are kept unless the sheet
    grades the same answer again (the sheet wins). Any bad row raises UserError naming the line,
    and nothing is written. Returns the number of grades merged.
    """
    csv_path, results_dir = Path(csv_path), Path(results_dir)
    known: dict[str, dict[str, set[str]]] = {}
    for run in _runs(results_dir):
        stages = known.setdefault(run["key"], {})
        for ans in run.get("answers") or []:
            if isinstance(ans, dict):
                stages.setdefault(str(ans.get("stage")), set()).add(str(ans.get("id")))

    reader = csv.reader(io.StringIO(_read_csv(csv_path), newline=""))
    try:
        header = [unicodedata.normalize("NFC", h).strip().lstrip("\ufeff") for h in next(reader)]
    except StopIteration:
        raise UserError(f"{csv_path}: empty grade sheet; export one with `lora-harness grades export`") from None
    except csv.Error as e:
        raise UserError(f"{csv_path} line 1: not a CSV row ({e})") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserError(f"{csv_path}: missing column(s) {', '.join(missing)}; the header needs {', '.join(COLUMNS)}")
    col = {name: header.index(name) for name in header if name}

    new: dict[tuple[str, str, str], tuple[int, str, int]] = {}  # (key, stage, id) -> (grade, comment, line)
    line = 1
    while True:
        line += 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise UserError(f"{csv_path} line {line}: not a CSV row ({e})") from None
        if not any(c.strip() for c in row):
            continue  # blank rows a spreadsheet leaves at the end

        def cell(name: str, row: list[str] = row) -> str:
            i = col.get(name)
            return row[i].strip() if i is not None and i < len(row) else ""

        where = f"{csv_path} line {line}"
        key, stage, aid, raw_grade = cell("run_key"), cell("stage"), cell("answer_id"), cell("grade")
        if key not in known:
            raise UserError(f"{where}: unknown run_key '{key}': no such run in {results_dir / 'runs'}")
        if stage not in known[key]:
            stages = ", ".join(sorted(known[key])) or "none"
            raise UserError(f"{where}: unknown stage '{stage}' for run {key[:12]} (its stages: {stages})")
        answer_id = _match_id(aid, known[key][stage])
        if answer_id is None:
            raise UserError(f"{where}: unknown answer_id '{aid}' in run {key[:12]} stage {stage}")
        try:
            grade = parse_grade(raw_grade)
        except ValueError:
            raise UserError(f"{where}: unknown grade '{raw_grade}'; use one of {_accepted()}") from None
        if grade is None:
            continue
        comment = cell("comment")
        cell_key = (key, stage, answer_id)
        if cell_key in new and new[cell_key][:2] != (grade, comment):
            raise UserError(
                f"{where}: answer {answer_id} of run {key[:12]} stage {stage} is graded differently on line "
                f"{new[cell_key][2]}; keep one of the two rows"
            )
        new[cell_key] = (grade, comment, line)

    grades = load_grades(results_dir)
    for (key, stage, answer_id), (grade, comment, _) in new.items():
        grades.setdefault(key, {}).setdefault(stage, {})[answer_id] = {"grade": grade, "comment": comment}
    if new:
        atomic_write_text(results_dir / GRADES_FILE, json.dumps(grades, ensure_ascii=False, indent=1) + "\n")
    return len(new)


# ---------------------------------------------------------------- reading back


def load_grades(results_dir: Path) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """results_dir/grades.json as a dict ({} when there is none)."""
    path = Path(results_dir) / GRADES_FILE
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable grades file ({e.__class__.__name__}); fix or move it") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a grades file (expected an object keyed by run key)")
    return raw


def grade_summary(
    grades_for_run_stage: Mapping[str, Any] | Iterable[Any], resamples: int = 1000, seed: int = 0
) -> dict:
    """{mean, lo, hi, n} of one run stage's grades (1..5, 95% bootstrap over answers).

    Takes grades.json's {answer_id: {"grade": g, ...}} for one run and stage, or plain grades."""
    items = grades_for_run_stage.values() if isinstance(grades_for_run_stage, Mapping) else grades_for_run_stage
    values = [it.get("grade") if isinstance(it, Mapping) else it for it in items]
    return ci_dict([float(v) for v in values if v is not None], resamples=resamples, seed=seed)
