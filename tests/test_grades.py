"""harness.quality.grades: export a grading sheet, import it back, summarise."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.quality.grades import COLUMNS, export_sheet, grade_summary, import_sheet, load_grades, parse_grade

KEY_A = "a" * 64
KEY_B = "b" * 64


def _run(key: str, name: str, rank: int, answers: list[tuple[str, str, str | None, str]]) -> dict:
    return {
        "schema_version": 1,
        "key": key,
        "label": f"{name} r{rank}",
        "status": "ok",
        "request": {"candidate": {"name": name}, "lora": {"rank": rank}, "backend": "hf", "quant": "none"},
        "started_at": "2026-01-01T00:00:00",
        "answers": [
            {
                "id": aid,
                "stage": stage,
                "prompt": f"질문 {aid}",
                "reference": ref,
                "answer": ans,
                "new_tokens": 5,
                "hit_eos": True,
                "scores": {},
            }
            for aid, stage, ref, ans in answers
        ],
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    runs = tmp_path / "res" / "runs"
    runs.mkdir(parents=True)
    a = _run(KEY_A, "gemma", 16, [("001", "base", "안녕!", "Hello"), ("001", "tuned", "안녕!", "안녕하세요 😊"),
                                  ("v1", "tuned", None, "=수식 아님, 답이에요")])  # fmt: skip
    b = _run(KEY_B, "qwen", 32, [("001", "tuned", "안녕!", "-네 안녕")])
    (runs / "gemma-r16.json").write_text(json.dumps(a, ensure_ascii=False), encoding="utf-8")
    (runs / "qwen-r32.json").write_text(json.dumps(b, ensure_ascii=False), encoding="utf-8")
    return tmp_path / "res"


def _read(path: Path) -> list[dict[str, str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows Korean
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def _write(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] | list[str] = COLUMNS) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    path.write_text("\ufeff" + buf.getvalue(), encoding="utf-8")


def test_export_columns_and_rows(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "sheet.csv"
    assert export_sheet(results, out) == 4
    rows = _read(out)
    assert list(rows[0]) == list(COLUMNS)
    first = rows[0]
    assert first["run_key"] == KEY_A and first["candidate"] == "gemma" and first["rank"] == "16"
    assert first["backend"] == "hf" and first["quant"] == "none" and first["stage"] == "base"
    assert first["answer_id"] == "001" and first["prompt"] == "질문 001" and first["reference"] == "안녕!"
    assert all(r["grade"] == "" and r["comment"] == "" for r in rows)
    assert rows[1]["answer"] == "안녕하세요 😊"
    assert rows[2]["reference"] == "" and rows[2]["answer"] == "'=수식 아님, 답이에요"  # no formula in Excel
    assert rows[3]["answer"] == "'-네 안녕"
    one = tmp_path / "one.csv"
    assert export_sheet(results / "runs" / "qwen-r32.json", one) == 1
    with pytest.raises(UserError, match="runs/"):
        export_sheet(tmp_path / "nowhere", one)


def test_round_trip(results: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    export_sheet(results, sheet)
    rows = _read(sheet)
    rows[0]["grade"], rows[0]["comment"] = "하", "영어로 답함"
    rows[1]["grade"] = " 최상 "
    rows[3]["grade"] = "3"  # numbers accepted; rows[2] left empty: skipped
    _write(sheet, rows)
    assert import_sheet(sheet, results) == 3
    grades = load_grades(results)
    assert grades == {
        KEY_A: {"base": {"001": {"grade": 2, "comment": "영어로 답함"}}, "tuned": {"001": {"grade": 5, "comment": ""}}},
        KEY_B: {"tuned": {"001": {"grade": 3, "comment": ""}}},
    }
    # a second sheet: existing grades kept, the same cell overwritten
    again = [{**rows[1], "grade": "중", "comment": "다시 봄"}, {**rows[2], "grade": "최하"}]
    _write(sheet, again)
    assert import_sheet(sheet, results) == 2
    grades = load_grades(results)
    assert grades[KEY_A]["tuned"]["001"] == {"grade": 3, "comment": "다시 봄"}
    assert grades[KEY_A]["tuned"]["v1"] == {"grade": 1, "comment": ""}
    assert grades[KEY_A]["base"]["001"]["grade"] == 2 and grades[KEY_B]["tuned"]["001"]["grade"] == 3
    s = grade_summary(grades[KEY_A]["tuned"])
    assert s["n"] == 2 and s["mean"] == 2.0 and s["lo"] <= 2.0 <= s["hi"]


def test_cp949_and_excel_ids(results: Path, tmp_path: Path) -> None:
    """Excel saves Korean CSV as CP949 and turns "001" into 1."""
    sheet = tmp_path / "sheet.csv"
    export_sheet(results, sheet)
    rows = _read(sheet)
    rows[0]["grade"], rows[0]["answer_id"] = "상", "1"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    w.writeheader()
    w.writerows(rows[:2])
    sheet.write_bytes(buf.getvalue().replace("😊", "").encode("cp949"))
    assert import_sheet(sheet, results) == 1
    assert load_grades(results)[KEY_A]["base"]["001"]["grade"] == 4


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"grade": "최고"}, r"line 3: unknown grade '최고'; use one of 최상, 상, 중, 하, 최하 or 5, 4, 3, 2, 1"),
        ({"grade": "6"}, r"line 3: unknown grade '6'"),
        ({"run_key": "c" * 64}, r"line 3: unknown run_key 'c+'"),
        ({"answer_id": "999"}, r"line 3: unknown answer_id '999'"),
        ({"stage": "mid"}, r"line 3: unknown stage 'mid'"),
    ],
)
def test_bad_rows_write_nothing(results: Path, tmp_path: Path, change: dict[str, str], message: str) -> None:
    sheet = tmp_path / "sheet.csv"
    export_sheet(results, sheet)
    rows = _read(sheet)
    rows[0]["grade"] = "최상"  # a good row before the bad one: must not be written either
    rows[1].update({"grade": "상", **change})
    _write(sheet, rows)
    with pytest.raises(UserError, match=message):
        import_sheet(sheet, results)
    assert not (results / "grades.json").exists()


def test_missing_column_and_conflicts(results: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    export_sheet(results, sheet)
    rows = _read(sheet)
    rows[0]["grade"] = "최상"
    _write(sheet, rows, [c for c in COLUMNS if c != "answer_id"])
    with pytest.raises(UserError, match=r"missing column.*answer_id"):
        import_sheet(sheet, results)
    _write(sheet, [rows[0], {**rows[0], "grade": "하"}])
    with pytest.raises(UserError, match=r"line 3:.*graded differently on line 2"):
        import_sheet(sheet, results)
    assert not (results / "grades.json").exists()
    (results / "grades.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(UserError, match=r"grades\.json"):
        load_grades(results)


def test_parse_grade_and_summary() -> None:
    assert [parse_grade(g) for g in ("최상", "상", "중", "하", "최하", "5", "1", "4.0", " ")] == [
        5,
        4,
        3,
        2,
        1,
        5,
        1,
        4,
        None,
    ]
    for bad in ("최고", "0", "2.5", "A"):
        with pytest.raises(ValueError):
            parse_grade(bad)
    assert grade_summary({}) == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert grade_summary([4]) == {"mean": 4.0, "lo": 4.0, "hi": 4.0, "n": 1}
    s = grade_summary([5, 4, 4, 3, 5, 2, 4])
    assert s["n"] == 7 and 2 <= s["lo"] < s["mean"] < s["hi"] <= 5
