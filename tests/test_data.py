"""Data layer: loaders on the shipped samples and the team's file, row selection, prompts, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.config import REPO_ROOT, DataSettings
from harness.data import (
    Example,
    Splits,
    detect_format,
    file_sha256,
    load_examples,
    render_completion,
    render_prompt,
    resolve_data_path,
    select_rows,
    validate_template,
)
from harness.errors import UserError

DATA = REPO_ROOT / "data"
SAMPLE_QA = DATA / "sample_qa.csv"
SAFE_ALPACA = DATA / "safe_conversation_alpaca.jsonl"
KORQUAD = DATA / "korquad_sample.jsonl"
TEAM_CSV = Path(__file__).resolve().parents[1].parent / "shared/data/OhLoRA_fine_tuning.csv"
TEMPLATE = "### 질문: {question} ### 답변:"
CTX_TEMPLATE = "### 본문: {context} ### 질문: {question} ### 답변:"
HEADER = "index,data_type,input_data,output_data,output_message,memory\n"


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    p = tmp_path / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def user_error(path: Path, fmt: str = "auto") -> str:
    with pytest.raises(UserError) as info:
        load_examples(path, fmt)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg, msg
    return msg


# ---------------------------------------------------------------- shipped samples


def test_sample_qa_csv():
    ex = load_examples(SAMPLE_QA)
    train = [e for e in ex if e.split == "train"]
    valid = [e for e in ex if e.split == "valid"]
    assert len(train) == 60 and len(valid) == 15
    assert all(e.answer and 15 <= len(e.answer) <= 60 for e in train)
    assert all(e.answer is None for e in valid)
    assert all(e.context is None and e.key_phrase is None for e in ex)
    assert len({e.id for e in ex}) == len(ex)
    assert ex[0].id == "0"


def test_default_data_path_is_the_sample():
    path = resolve_data_path(DataSettings().path)
    assert path == SAMPLE_QA.resolve()
    s = select_rows(load_examples(path), DataSettings().train_rows, DataSettings().eval_rows, 5, path)
    assert (len(s.train), len(s.eval), len(s.grade)) == (20, 25, 5)


def test_safe_conversation_alpaca():
    ex = load_examples(SAFE_ALPACA)
    assert detect_format(SAFE_ALPACA) == "alpaca"
    assert len(ex) == 40
    assert all(e.split == "train" and e.answer and e.context is None for e in ex)
    raw = [json.loads(line) for line in SAFE_ALPACA.read_text(encoding="utf-8").splitlines()]
    with_input = [(r, e) for r, e in zip(raw, ex, strict=True) if r["input"]]
    assert with_input, "the sample should have some rows with an input"
    for r, e in with_input:
        assert e.question == r["instruction"] + "\n" + r["input"]


def test_korquad_sample():
    ex = load_examples(KORQUAD)
    assert detect_format(KORQUAD) == "korquad"
    assert len(ex) == 40
    for e in ex:
        assert e.context and e.answer and e.key_phrase == e.answer and e.split == "train"
        assert e.answer in e.context


def test_korquad_sample_offsets():
    rows = [json.loads(line) for line in KORQUAD.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 40
    for r in rows:
        ctx, ans = r["context"], r["answers"]
        assert len(ans["text"]) == len(ans["answer_start"]) >= 1
        for text, start in zip(ans["text"], ans["answer_start"], strict=True):
            assert ctx[start : start + len(text)] == text, r["id"]


def test_korquad_nested_v1(tmp_path):
    doc = {
        "version": "KorQuAD_v1.0",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": "가나다 라마바 사아자",
                        "qas": [
                            {"id": "q1", "question": "둘째 말은?", "answers": [{"text": "라마바", "answer_start": 4}]},
                            {"id": "q2", "question": "셋째 말은?", "answers": [{"text": "사아자", "answer_start": 8}]},
                        ],
                    }
                ],
            }
        ],
    }
    p = write(tmp_path, "kq.json", json.dumps(doc, ensure_ascii=False))
    ex = load_examples(p)
    assert [(e.id, e.answer, e.key_phrase, e.context) for e in ex] == [
        ("q1", "라마바", "라마바", "가나다 라마바 사아자"),
        ("q2", "사아자", "사아자", "가나다 라마바 사아자"),
    ]


def test_alpaca_json_list(tmp_path):
    rows = [
        {"instruction": "인사해", "input": "", "output": "안녕!"},
        {"instruction": "더해", "input": "1+1", "output": "2"},
    ]
    p = write(tmp_path, "a.json", json.dumps(rows, ensure_ascii=False))
    ex = load_examples(p)
    assert [(e.question, e.answer) for e in ex] == [("인사해", "안녕!"), ("더해\n1+1", "2")]


# ---------------------------------------------------------------- the team's file


@pytest.mark.skipif(not TEAM_CSV.exists(), reason=f"team data not present at {TEAM_CSV} (kept outside the repo)")
def test_team_csv():
    assert TEAM_CSV.read_text(encoding="utf-8").startswith(",data_type,")  # empty first header name
    ex = load_examples(TEAM_CSV)
    train = [e for e in ex if e.split == "train"]
    valid = [e for e in ex if e.split == "valid"]
    assert len(train) == 200 and all(e.answer for e in train)
    assert len(valid) == 50 and all(e.answer is None for e in valid)
    assert resolve_data_path("../shared/data/OhLoRA_fine_tuning.csv") == TEAM_CSV.resolve()
    s = select_rows(ex, 20, 25, 5, TEAM_CSV)
    assert (len(s.train), len(s.eval), len(s.grade)) == (20, 25, 5)


# ---------------------------------------------------------------- selection


def test_select_rows_disjoint():
    ex = load_examples(SAMPLE_QA)
    s = select_rows(ex, 20, 25, 5, SAMPLE_QA)
    assert isinstance(s, Splits)
    assert (len(s.train), len(s.eval), len(s.grade)) == (20, 25, 5)
    ids = [e.id for e in s.train + s.eval + s.grade]
    assert len(set(ids)) == len(ids)
    assert all(e.answer is not None and e.split == "train" for e in s.train + s.eval)
    assert all(e.split == "valid" for e in s.grade)
    train_ids = [e.id for e in ex if e.split == "train"]
    assert [e.id for e in s.train] == train_ids[:20]
    assert [e.id for e in s.eval] == train_ids[20:45]


def test_select_rows_skips_rows_without_reference():
    ex = [Example(str(i), f"q{i}", None if i % 2 else f"a{i}") for i in range(10)]
    s = select_rows(ex, 2, 3, 0, "x.csv")
    assert [e.id for e in s.train] == ["0", "2"] and [e.id for e in s.eval] == ["4", "6", "8"]


def test_select_rows_too_few():
    ex = load_examples(SAMPLE_QA)
    with pytest.raises(UserError, match=r"sample_qa\.csv.*asked for 50 train \+ 25 eval.*has 60 train rows"):
        select_rows(ex, 50, 25, 0, SAMPLE_QA)
    with pytest.raises(UserError, match=r"asked for 20 grade rows.*has 15 valid rows"):
        select_rows(ex, 1, 1, 20, SAMPLE_QA)
    with pytest.raises(UserError, match=r"asked for 1 grade rows.*has 0 valid rows"):
        select_rows(load_examples(KORQUAD), 1, 1, 1, KORQUAD)


# ---------------------------------------------------------------- prompts


@pytest.mark.parametrize("template", [TEMPLATE, "### 질문: {question} ### 답변: ", "Q: {question}\nA:\n"])
def test_prompt_completion_prefix(template):
    ex = Example("1", "너는 누구야? ", "나는 하늘이야!")
    prompt = render_prompt(template, ex)
    completion = render_completion(ex, "<eos>")
    assert prompt == prompt.rstrip() and "너는 누구야?" in prompt
    assert completion == " 나는 하늘이야!<eos>"
    assert (prompt + completion).startswith(prompt)
    assert not (prompt + completion)[len(prompt) + 1].isspace()
    assert render_completion(ex, None) == " 나는 하늘이야!"


def test_prompt_braces_in_question_are_literal():
    ex = Example("1", "이건 {context} 글자야", "응")
    assert render_prompt(TEMPLATE, ex) == "### 질문: 이건 {context} 글자야 ### 답변:"


def test_context_template_rules():
    kq = load_examples(KORQUAD)[0]
    assert render_prompt(CTX_TEMPLATE, kq).startswith(f"### 본문: {kq.context} ### 질문: {kq.question}")
    with pytest.raises(UserError, match=r"'### 질문: \{question\} ### 답변:'.*\{context\}"):
        render_prompt(TEMPLATE, kq)
    with pytest.raises(UserError, match=r"\{context\}"):
        validate_template(TEMPLATE, [kq])
    with pytest.raises(UserError, match=r"no passage"):
        validate_template(CTX_TEMPLATE, [Example("1", "q", "a")])
    with pytest.raises(UserError, match=r"no \{question\}"):
        validate_template("{context}")
    validate_template(CTX_TEMPLATE, [kq])
    validate_template(TEMPLATE, load_examples(SAMPLE_QA))


def test_completion_needs_answer():
    with pytest.raises(UserError, match="example 7"):
        render_completion(Example("7", "q", None), "</s>")


# ---------------------------------------------------------------- paths and hashes


def test_resolve_data_path(tmp_path, monkeypatch):
    assert resolve_data_path("data/sample_qa.csv") == SAMPLE_QA.resolve()
    assert resolve_data_path(str(KORQUAD)) == KORQUAD
    cwd = tmp_path / "repo"
    (tmp_path / "shared").mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert resolve_data_path("data/sample_qa.csv") == SAMPLE_QA.resolve()  # not the CWD
    target = write(tmp_path / "shared", "x.csv", HEADER)
    assert resolve_data_path("../shared/x.csv") == target.resolve()  # CWD first
    # missing everywhere: the current directory's path, so the error names where the user looked
    assert resolve_data_path("../shared/none.csv") == (cwd / "../shared/none.csv").resolve()


def test_file_sha256(tmp_path):
    p = write(tmp_path, "a.csv", "abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(UserError, match="not found"):
        file_sha256(tmp_path / "missing.csv")


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    assert "not found" in user_error(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    assert "empty" in user_error(write(tmp_path, "e.csv", "  \n"))
    assert "no data rows" in user_error(write(tmp_path, "h.csv", HEADER))


def test_empty_json_list(tmp_path):
    assert "no data rows" in user_error(write(tmp_path, "e.json", "[]"), "alpaca")


def test_not_utf8(tmp_path):
    p = write(tmp_path, "cp949.csv", (HEADER + "0,train,안녕,반가워,반가워,\n").encode("cp949"))
    msg = user_error(p)
    assert "UTF-8" in msg and "line 2" in msg


def test_missing_column(tmp_path):
    p = write(tmp_path, "m.csv", ",data_type,input_data,output_message,memory\n0,train,q,a,\n")
    msg = user_error(p)
    assert "'output_data'" in msg and "'input_data'" in msg and "columns found" in msg


def test_bad_csv_rows(tmp_path):
    msg = user_error(write(tmp_path, "s.csv", HEADER + "0,test,q,a,a,\n"))
    assert "line 2" in msg and "data_type" in msg
    msg = user_error(write(tmp_path, "q.csv", HEADER + "0,train,,a,a,\n"))
    assert "line 2" in msg and "input_data" in msg
    msg = user_error(write(tmp_path, "n.csv", HEADER + "0,train,q,a,a,\n1,train,q,a\n"))
    assert "line 3" in msg and "fields" in msg
    msg = user_error(write(tmp_path, "d.csv", HEADER + "0,train,q,a,a,\n0,train,q2,a,a,\n"))
    assert "line 3" in msg and "'0'" in msg


def test_malformed_json_line(tmp_path):
    good = json.dumps({"instruction": "i", "input": "", "output": "o"})
    p = write(tmp_path, "bad.jsonl", f"{good}\n{good}\n{{not json\n")
    msg = user_error(p, "alpaca")
    assert "line 3" in msg and "malformed JSON" in msg
    assert "line 3" in user_error(p)  # auto-detection reads line 1 only; the loader finds line 3


def test_malformed_json_file(tmp_path):
    msg = user_error(write(tmp_path, "bad.json", '[\n {"instruction": "i",\n}\n]'), "alpaca")
    assert "line 3" in msg


def test_alpaca_missing_field(tmp_path):
    p = write(
        tmp_path, "a.jsonl", json.dumps({"instruction": "i", "output": "o"}) + "\n" + json.dumps({"instruction": "i"})
    )
    msg = user_error(p, "alpaca")
    assert "line 2" in msg and "'output'" in msg and "instruction" in msg


def test_korquad_without_answers(tmp_path):
    rows = [
        {"id": "a", "context": "가나다", "question": "q?", "answers": {"text": ["가나"], "answer_start": [0]}},
        {"id": "b", "context": "가나다", "question": "q?", "answers": {"text": [], "answer_start": []}},
    ]
    p = write(tmp_path, "kq.jsonl", "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    msg = user_error(p)
    assert "line 2" in msg and "id b" in msg and "'answers'" in msg
    nested = {"data": [{"paragraphs": [{"context": "가나다", "qas": [{"id": "z9", "question": "q?"}]}]}]}
    msg = user_error(write(tmp_path, "kq.json", json.dumps(nested)))
    assert "qas[0]" in msg and "z9" in msg and "'answers'" in msg


def test_unknown_format(tmp_path):
    p = write(tmp_path, "x.txt", "hello")
    assert "extension" in user_error(p)
    assert "unknown data format 'parquet'" in user_error(SAMPLE_QA, "parquet")
    msg = user_error(write(tmp_path, "x.jsonl", json.dumps({"prompt": "p", "completion": "c"})))
    assert "completion, prompt" in msg


def test_errors_are_user_errors_not_tracebacks(tmp_path):
    if os.geteuid() == 0:  # root reads everything; check a folder instead
        assert "folder" in user_error(tmp_path)
    else:
        p = write(tmp_path, "locked.csv", HEADER)
        p.chmod(0)
        assert "cannot read" in user_error(p)


# ---------------------------------------------------------------- the format registry


def test_the_format_registry_is_what_the_spec_accepts():
    from typing import get_args

    from harness.data.formats import BY_NAME, FORMATS, REGISTRY, check_config_formats

    assert FORMATS == ("auto", *(f.name for f in REGISTRY)) == ("auto", "ohlora_csv", "alpaca", "korquad")
    assert get_args(DataSettings.model_fields["format"].annotation) == FORMATS  # config's copy, checked
    check_config_formats(FORMATS)
    with pytest.raises(RuntimeError, match=r"harness/config/request\.py"):
        check_config_formats(("auto", "alpaca"))
    for f in REGISTRY:  # every format names its fields, its suffixes and a loader; hub rows only where it can
        assert f.fields and f.suffixes and callable(f.load_file) and BY_NAME[f.name] is f
        assert (f.from_records is None) == (not f.hub_columns)


def test_detection_messages_are_derived_from_the_registry(tmp_path):
    msg = user_error(write(tmp_path, "x.txt", "hello"))
    assert "use .csv, .json or .jsonl, or set data.format to ohlora_csv, alpaca or korquad" in msg
    msg = user_error(write(tmp_path, "x.jsonl", json.dumps({"q": "p"})))
    assert "expected instruction/input/output (alpaca) or context/question/answers (korquad), or set" in msg
    # a nested KorQuAD document is told by its top-level key, before any record's keys
    doc = {"data": [], "instruction": "i", "output": "o"}
    assert detect_format(write(tmp_path, "d.json", json.dumps(doc))) == "korquad"
    assert detect_format(write(tmp_path, "t.tsv", "a\tb\n")) == "ohlora_csv"


def test_a_hub_split_is_a_registry_format_by_its_columns():
    from harness.data import hub_examples

    rows = [{"instruction": "q", "input": "", "output": "a"}]
    assert hub_examples(rows, "o/n:train", "auto", {})[0].question == "q"
    rows = [{"context": "c", "question": "q", "answers": {"text": ["a"]}}]
    ex = hub_examples(rows, "o/n:train", "auto", {})[0]
    assert (ex.context, ex.key_phrase) == ("c", "a")
    rows = [{"q": "x", "a": "y"}]  # no format's columns: the mapping
    assert hub_examples(rows, "o/n:train", "auto", {"question": "q", "answer": "a"})[0].answer == "y"
