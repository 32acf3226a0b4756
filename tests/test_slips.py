"""What slipped through (issue 29): grade rows through generation, scoring and the grading sheet; inputs the
preflight catches; the fork server's end with its parent; refused input writes nothing; errors and headers that
name what the user typed and what ran."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import pytest

from harness import data as data_mod
from harness import run as run_mod
from harness import weights
from harness.quality.grades import export_sheet
from harness.result import RunResult
from tests.tiny import tiny_request

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- 1. grade rows


@pytest.fixture
def tiny_dir(shape_cache: Path) -> Path:
    """A tiny model saved with save_pretrained (weights + tokenizer), used as if it were real weights."""
    req = tiny_request("llama")
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    return w.model_dir


@pytest.fixture
def graded_csv(tmp_path: Path) -> Path:
    """The sample data with references on some `valid` rows (as a team's file may have): a grade row with a
    reference must still not be scored, nor counted where the scoring pass's answers are."""
    text = (REPO / "data" / "sample_qa.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    for n, row in enumerate(r for r in rows[1:] if r[1] == "valid"):
        if n % 2 == 0:
            row[3] = row[4] = f"참고 답 {n}"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path = tmp_path / "graded.csv"
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


GRID = list(itertools.product([0, 1, 3], [0, 2], [1, 8], [False, True]))


@pytest.mark.slow
@pytest.mark.parametrize(("eval_rows", "grade_rows", "batch", "base"), GRID)
def test_grade_rows_run_with_every_mix_of_eval_rows_batch_and_base_answers(
    tmp_path: Path, tiny_dir: Path, graded_csv: Path, monkeypatch: pytest.MonkeyPatch,
    eval_rows: int, grade_rows: int, batch: int, base: bool,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    req = tiny_request(
        "llama", weights="real", weights_path=str(tiny_dir),
        data={"path": str(graded_csv), "eval_rows": eval_rows, "grade_rows": grade_rows},
        train={"max_steps": 1, "burn_in_steps": 0},
        generation={"batch_size": batch, "latency_prompts": 1, "max_new_tokens": 3, "base_answers": base},
    )  # fmt: skip
    runs = tmp_path / "res" / "runs"
    runs.mkdir(parents=True)
    out = runs / "run.json"
    run_mod.RunChild(req, "k" * 64, out).execute()
    res = RunResult.read(out)
    assert res.status == "ok", res.reason

    splits = data_mod.select_rows(data_mod.load_examples(graded_csv), 8, eval_rows, grade_rows)
    eval_ids, grade_ids = [e.id for e in splits.eval], [e.id for e in splits.grade]
    stages = ["base", "tuned"] if base else ["tuned"]
    for stage in stages:
        got = [(a.id, a.role) for a in res.answers if a.stage == stage]
        assert got == [(i, "eval") for i in eval_ids] + [(i, "grade") for i in grade_ids]
        q = res.quality.stage(stage)
        if eval_ids:  # the scored answers, and only they, make the stage's quality
            assert q["bits_per_char"].n == len(eval_ids) and q["chrf"].n == len(eval_ids)
            assert q["hangul_ratio"].n == len(eval_ids)
        else:
            assert q == {}
    for a in res.answers:
        if a.role == "grade":  # a grade row's own reference is shown for grading, never scored
            assert "chrf" not in a.scores or a.scores["chrf"] is None
            assert "bits_per_char" not in a.scores
    assert any(a.reference for a in res.answers if a.role == "grade") == (grade_rows > 0)

    sheet = tmp_path / "sheet.csv"
    n = export_sheet(tmp_path / "res", sheet)
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))
    listed = [(r["stage"], r["answer_id"]) for r in rows]
    if grade_rows:  # exactly the grade rows, each stage that answered them
        assert listed == [(s, i) for s in stages for i in grade_ids]
    else:  # no grade rows asked: the scored answers can be graded instead
        assert listed == [(s, i) for s in stages for i in eval_ids]
    assert n == len(rows)


def test_scoring_keeps_grade_answers_out_of_the_reference_metrics() -> None:
    """The unit under the grid: bits per character lines up with the scored answers only."""
    from harness.quality.score import score_run

    def ans(aid: str, role: str, ref: str | None) -> dict[str, Any]:
        return {"id": aid, "stage": "tuned", "role": role, "prompt": "p", "reference": ref, "answer": "네 좋아요",
                "hit_eos": True, "new_tokens": 3}  # fmt: skip

    answers = [ans("1", "eval", "좋아요"), ans("60", "grade", "참고"), ans("61", "grade", None)]
    per, quality = score_run(answers, {"tuned": [1.5]}, meaningful=True)
    assert per[0]["bits_per_char"] == 1.5 and per[0]["chrf"] is not None
    assert per[1]["chrf"] is None and "bits_per_char" not in per[1] and per[1]["hangul_ratio"] == 1.0
    assert quality["tuned"]["chrf"]["n"] == 1 and quality["tuned"]["hangul_ratio"]["n"] == 1
