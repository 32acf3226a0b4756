"""harness.quality: metrics, bootstrap intervals, composite, score_run."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest
from sacrebleu.metrics import CHRF

from harness.errors import UserError
from harness.quality import (
    COMPOSITE_FORMULA,
    DEFAULT_WEIGHTS,
    align_by_id,
    answer_composites,
    bits_per_char,
    bootstrap_ci,
    composite,
    composite_block,
    paired_bootstrap,
    resolve_weights,
    score_answer,
    score_run,
    summarize,
)
from harness.quality import metrics as m

PAIRS = [
    ("안녕하세요, 저는 오로라예요. 만나서 반가워요!", "안녕하세요, 저는 오로라예요. 만나서 반가워요!"),  # identical
    ("안녕! 나는 오로라야. 반가워.", "안녕하세요, 저는 오로라예요. 만나서 반가워요!"),  # partial overlap
    ("오늘 주식 시장이 크게 떨어졌습니다.", "고양이를 좋아해요 😊"),  # unrelated
]


# ---------------------------------------------------------------- metrics


@pytest.mark.parametrize(("hyp", "ref"), PAIRS)
def test_chrf_matches_sacrebleu(hyp: str, ref: str) -> None:
    expected = CHRF(word_order=2).sentence_score(hyp, [ref]).score
    assert m.chrf_sentence(hyp, ref) == pytest.approx(expected)
    assert score_answer(hyp, ref, None, True)["chrf"] == pytest.approx(expected)


def test_chrf_ordering_and_corpus() -> None:
    identical, partial, unrelated = (m.chrf_sentence(h, r) for h, r in PAIRS)
    assert identical == pytest.approx(100.0)
    assert 0 < unrelated < partial < identical
    hyps, refs = [h for h, _ in PAIRS], [r for _, r in PAIRS]
    expected = CHRF(word_order=2).corpus_score(hyps, [refs]).score
    assert m.chrf_corpus(hyps, refs) == pytest.approx(expected)
    stats = m.chrf_corpus_stats(hyps, refs)
    assert stats is not None
    assert m.chrf_from_stats(np.asarray(stats).sum(axis=0)) == pytest.approx(expected)
    summary = summarize([{}] * 3, None, hyps=hyps, refs=refs, resamples=200)
    cc = summary["chrf_corpus"]
    assert cc["mean"] == pytest.approx(expected) and cc["n"] == 3 and cc["lo"] <= cc["mean"] <= cc["hi"]


def test_bits_per_char() -> None:
    assert bits_per_char(10 * math.log(2), 5) == pytest.approx(2.0)
    assert bits_per_char(0.0, 3) == 0.0
    with pytest.raises(ValueError):
        bits_per_char(1.0, 0)
    with pytest.raises(ValueError):
        bits_per_char(float("nan"), 4)


def test_empty_answers() -> None:
    for text in ("", "   ", "...!?", " 😊🙏 ", "\n\t-"):
        s = score_answer(text, "안녕하세요", None, True)
        assert s["empty"] == 1.0, text
        assert s["hangul_ratio"] is None and s["repetition"] is None
        assert s["contains"] == 0.0 and s["chrf"] == 0.0
        assert composite(s) == 0.0
    assert score_answer("네", "네", None, True)["empty"] == 0.0
    assert score_answer("42", None, None, True)["empty"] == 0.0


def test_repetition_and_distinct() -> None:
    s = score_answer("좋아 좋아 좋아 좋아 좋아 좋아", None, None, True)
    assert s["repetition"] == pytest.approx(2 / 3)  # 3 word 4-grams, the 2nd and 3rd repeat the 1st
    assert s["distinct2"] == pytest.approx(1 / 5)  # 5 word bigrams, one kind
    fresh = score_answer("저는 주말마다 한강에서 자전거를 타요", None, None, True)
    assert fresh["repetition"] == 0.0 and fresh["distinct2"] == 1.0
    # under 4 words: character n-grams, spaces removed
    short = score_answer("하하하하하하", None, None, True)
    assert short["repetition"] == pytest.approx(2 / 3) and short["distinct2"] == pytest.approx(1 / 5)
    assert score_answer("네!", None, None, True)["repetition"] == 0.0  # too short to repeat
    assert score_answer("네", None, None, True)["distinct2"] is None  # no bigram
    # punctuation does not hide a loop
    assert m.repetition("좋아! 좋아! 좋아! 좋아! 좋아!") == pytest.approx(1 / 2)


def test_hangul_ratio() -> None:
    assert m.hangul_ratio("Hello, how are you?") == 0.0
    assert m.hangul_ratio("안녕하세요 😊 123!") == 1.0
    assert m.hangul_ratio("ㅋㅋㅋ 진짜?") == 1.0  # compatibility jamo count
    assert m.hangul_ratio("나는 AI야") == pytest.approx(3 / 5)
    assert m.hangul_ratio("123 !!! 😊") is None
    assert score_answer("I am a chatbot.", "저는 챗봇이에요.", None, True)["hangul_ratio"] == 0.0


@pytest.mark.parametrize(
    ("answer", "reference", "key", "expected"),
    [
        ("네, 저는 서울에 살아요~", "서울에 살아요!", None, True),  # reference minus trailing punctuation
        ("저는 서울에 살아요", "서울에 살아요 😊", None, True),  # trailing emoji
        ("서울에살아요", "서울에 살아요.", None, True),  # spacing differs
        ("I LOVE Seoul!!", "i love seoul", None, True),  # case, punctuation
        ("부산에 살아요", "서울에 살아요.", None, False),
        ("저는 부산 출신이지만 지금은 서울에 있어요", "저는 서울에 살고 있답니다!", "서울", True),  # key phrase
        ("저는 부산에 있어요", "저는 서울에 살고 있답니다!", "서울", False),
        ("", "서울", None, False),
    ],
)
def test_contains_match(answer: str, reference: str, key: str | None, expected: bool) -> None:
    assert m.contains_match(answer, reference, key) is expected
    assert score_answer(answer, reference, key, True)["contains"] == float(expected)


def test_reference_free_rows_and_truncation() -> None:
    s = score_answer("안녕하세요 반가워요", None, None, hit_eos=False)
    assert s["chrf"] is None and s["contains"] is None
    assert s["hangul_ratio"] == 1.0 and s["truncated"] == 1.0
    assert set(s) == {"chrf", "contains", "hangul_ratio", "empty", "repetition", "distinct2", "truncated"}
    assert score_answer("안녕", "   ", None, True)["chrf"] is None  # blank reference = none
    assert composite(s) is None  # no reference: no composite
    assert m.key_phrase_of("서울에 살아요!! 😊 ") == "서울에 살아요"


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_ci_basics() -> None:
    assert bootstrap_ci([]) is None
    assert bootstrap_ci([None, None]) is None
    assert bootstrap_ci([3.5]) == (3.5, 3.5, 3.5)
    assert bootstrap_ci([2.0] * 10) == (2.0, 2.0, 2.0)
    a = bootstrap_ci([1.0, 2.0, 5.0, None, 3.0], seed=7)
    assert a == bootstrap_ci([1.0, 2.0, 5.0, 3.0], seed=7)  # None skipped, seeded
    mean, lo, hi = a
    assert mean == pytest.approx(11 / 4) and 1.0 <= lo < mean < hi <= 5.0
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, float("inf")])


def test_bootstrap_coverage() -> None:
    true_mean, covered, trials = 3.0, 0, 100
    for seed in range(trials):
        values = np.random.default_rng(1000 + seed).normal(true_mean, 2.0, size=200)
        _, lo, hi = bootstrap_ci(values, resamples=1000, seed=seed)
        covered += lo < true_mean < hi
        if seed == 0:
            assert lo < true_mean < hi
    assert 90 <= covered <= 100


def test_paired_bootstrap_verdicts() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, size=30)
    clear = paired_bootstrap(base + 0.2 + rng.normal(0, 0.02, 30), base)
    assert clear["verdict"] == "A better" and clear["lo"] > 0 and clear["p_a_gt_b"] > 0.99 and clear["n"] == 30
    assert paired_bootstrap(base, base + 0.2)["verdict"] == "B better"
    noise = paired_bootstrap(base + rng.normal(0, 0.1, 30), base)
    assert noise["verdict"] == "no clear difference" and noise["lo"] < 0 < noise["hi"]
    # lower is better (bits per character): A's lower values win
    assert paired_bootstrap(base, base + 0.2, higher_is_better=False)["verdict"] == "A better"
    assert paired_bootstrap([], [])["n"] == 0
    assert paired_bootstrap([1.0], [0.0])["verdict"] == "no clear difference"
    with pytest.raises(ValueError):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_align_by_id() -> None:
    a = [
        {"id": "1", "stage": "tuned", "scores": {"chrf": 50.0}},
        {"id": "2", "stage": "tuned", "scores": {"chrf": 60.0}},
    ]
    b = [
        {"id": "2", "stage": "tuned", "scores": {"chrf": 40.0}},
        {"id": "3", "stage": "tuned", "scores": {"chrf": 10.0}},
        {"id": "1", "stage": "tuned", "scores": {"chrf": None}},
    ]
    assert align_by_id(a, b, "chrf") == ([60.0], [40.0])
    both = [*a, {"id": "1", "stage": "base", "scores": {"chrf": 1.0}}]
    with pytest.raises(ValueError, match="twice"):
        align_by_id(both, b, "chrf")
    assert align_by_id(both, b, "chrf", stage="tuned") == ([60.0], [40.0])


# ---------------------------------------------------------------- composite and runs


def test_composite_bounds_and_weights() -> None:
    best = {
        "chrf": 100.0,
        "contains": 1.0,
        "hangul_ratio": 1.0,
        "empty": 0.0,
        "repetition": 0.0,
        "distinct2": 1.0,
        "truncated": 0.0,
        "bits_per_char": 0.0,
    }
    worst = {
        "chrf": 0.0,
        "contains": 0.0,
        "hangul_ratio": 0.0,
        "empty": 0.0,
        "repetition": 1.0,
        "distinct2": 0.0,
        "truncated": 1.0,
        "bits_per_char": 50.0,
    }
    every = dict.fromkeys(DEFAULT_WEIGHTS, 1.0)
    for w in (None, every, {"chrf": 1.0}):
        assert composite(best, w) == pytest.approx(100.0)
        assert composite(worst, w) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = {
            "chrf": rng.uniform(0, 100),
            "contains": float(rng.integers(0, 2)),
            "hangul_ratio": rng.uniform(),
            "empty": 0.0,
            "repetition": rng.uniform(),
            "distinct2": rng.uniform(),
            "truncated": float(rng.integers(0, 2)),
            "bits_per_char": rng.uniform(0, 8),
        }
        assert 0.0 <= composite(s, dict(zip(DEFAULT_WEIGHTS, rng.uniform(0, 2, 7), strict=True))) <= 100.0
    # hangul_ratio undefined: left out, the rest renormalised
    assert composite({**best, "hangul_ratio": None}) == pytest.approx(100.0)
    # a summary ({mean, lo, hi, n} per metric) works too
    summary = {k: {"mean": v, "lo": v, "hi": v, "n": 3} for k, v in best.items()}
    assert composite(summary) == pytest.approx(100.0)
    assert all(f"w_{k}" in COMPOSITE_FORMULA for k in DEFAULT_WEIGHTS)
    assert sum(DEFAULT_WEIGHTS.values()) == pytest.approx(1.0)


def test_weight_errors() -> None:
    with pytest.raises(UserError, match="'chrF'"):
        resolve_weights({"chrF": 1.0})
    with pytest.raises(UserError, match="'clean'"):
        resolve_weights({"clean": -1})
    with pytest.raises(UserError, match="all 0"):
        resolve_weights(dict.fromkeys(DEFAULT_WEIGHTS, 0))
    assert resolve_weights({"distinct": 0.5})["distinct"] == 0.5
    assert resolve_weights(None) == DEFAULT_WEIGHTS


REFS = [
    "안녕하세요! 저는 오로라예요. 만나서 반가워요 😊",
    "오늘 날씨가 정말 좋네요. 산책 갈까요?",
    "저는 고양이를 좋아해요.",
    "그건 잘 모르겠어요, 미안해요.",
    "주말에는 보통 책을 읽어요!",
]


def _answers(n: int = 25) -> list[dict]:
    out = []
    for i in range(n):
        ref = REFS[i % len(REFS)]
        common = {"id": f"{i:03d}", "prompt": "질문", "reference": ref, "new_tokens": 10}
        out.append({**common, "stage": "base", "answer": "I am a language model. " * 3, "hit_eos": i % 3 > 0})
        out.append({**common, "stage": "tuned", "answer": ref.rstrip("!😊. ") + " 네", "hit_eos": True})
    out.append(
        {
            "id": "g1",
            "stage": "tuned",
            "prompt": "p",
            "reference": None,
            "answer": "네 좋아요",
            "hit_eos": True,
            "new_tokens": 3,
        }
    )
    return out


def test_score_run_layout_and_speed() -> None:
    answers = _answers()
    bpc = {"base": [2.5] * 25, "tuned": [1.2] * 25}  # one per reference answer
    t0 = time.perf_counter()
    per_answer, quality = score_run(answers, bpc, meaningful=True)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed
    assert len(per_answer) == len(answers)
    assert per_answer[-1]["chrf"] is None and "composite" not in per_answer[-1]  # weights are the report's
    assert per_answer[-1]["hangul_ratio"] == 1.0 and "bits_per_char" not in per_answer[-1]
    assert per_answer[1]["bits_per_char"] == 1.2
    for stage in ("base", "tuned"):
        for metric in (
            "chrf",
            "contains",
            "hangul_ratio",
            "empty",
            "repetition",
            "distinct2",
            "truncated",
            "bits_per_char",
            "chrf_corpus",
        ):
            entry = quality[stage][metric]
            assert set(entry) == {"mean", "lo", "hi", "n"}
            assert entry["lo"] <= entry["mean"] <= entry["hi"], (stage, metric)
    assert quality["tuned"]["chrf"]["n"] == 25 and quality["tuned"]["hangul_ratio"]["n"] == 26
    assert quality["base"]["bits_per_char"]["mean"] == 2.5
    assert set(quality) == {"meaningful", "base", "tuned"} and quality["meaningful"] is True
    from harness.result import Quality

    Quality.model_validate(quality)  # the layout RunResult.quality takes
    # seeded: the same call gives the same file
    assert score_run(answers, bpc, meaningful=True)[1] == quality
    # the scorer stays light: a fresh interpreter that scores a run never imports torch
    code = "import sys, harness.quality.score as s; s.score_run([], {}, meaningful=True); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_composite_block_at_report_time() -> None:
    """The composite comes from the stored per-answer scores and the weights given now."""
    answers = _answers()
    per_answer, _ = score_run(answers, {"base": [2.5] * 25, "tuned": [1.2] * 25}, meaningful=True)
    scored = [{**a, "scores": s} for a, s in zip(answers, per_answer, strict=True)]
    comp = composite_block(scored, None)
    assert comp["formula"] == COMPOSITE_FORMULA and comp["weights"] == DEFAULT_WEIGHTS
    assert comp["tuned"]["n"] == 25 and comp["tuned"]["mean"] > comp["base"]["mean"]
    assert comp["tuned_vs_base"]["verdict"] == "A better"
    tuned = [c for a, c in zip(scored, answer_composites(scored, None), strict=True) if a["stage"] == "tuned"]
    assert comp["tuned"]["mean"] == pytest.approx(np.mean([c for c in tuned if c is not None]))
    assert tuned[-1] is None  # no reference: no composite
    # other weights, same scores: no rerun
    likely = composite_block(scored, {**dict.fromkeys(DEFAULT_WEIGHTS, 0.0), "likelihood": 1.0})
    assert likely["tuned"]["mean"] == pytest.approx(100 * 2**-1.2) and likely["base"]["mean"] == pytest.approx(
        100 * 2**-2.5
    )
    # a composite a schema-1 file stored is ignored
    stale = [{**a, "scores": {**a["scores"], "composite": 1.0}} for a in scored]
    assert composite_block(stale, None)["tuned"] == comp["tuned"]
    with pytest.raises(UserError, match="'nope'"):
        composite_block(scored, {"nope": 1})


def test_score_run_options() -> None:
    answers = _answers(4)
    _, q = score_run(answers, None, meaningful=False)
    assert q["meaningful"] is False
    assert "bits_per_char" not in q["tuned"]
    _, only_base = score_run([a for a in answers if a["stage"] == "base"], {}, meaningful=True)
    assert "tuned" not in only_base
    with pytest.raises(ValueError, match="tuned"):
        score_run(answers, {"tuned": [1.0]}, meaningful=True)


def test_score_run_on_answer_models() -> None:
    from harness.result import Answer

    answers = [Answer(**{k: v for k, v in a.items() if k != "scores"}) for a in _answers(3)]
    per_answer, quality = score_run(answers, {"tuned": [1.0, 1.1, 1.2]}, meaningful=True)
    rebuilt = [a.model_copy(update={"scores": s}) for a, s in zip(answers, per_answer, strict=True)]
    assert Answer.model_validate(rebuilt[1].model_dump()).scores["bits_per_char"] == 1.0
    assert quality["tuned"]["bits_per_char"]["n"] == 3
