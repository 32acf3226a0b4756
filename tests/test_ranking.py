"""The decision (harness.report.analysis): ratios to the best, ties, bootstrap confidence, the team's job,
repeats, and the answer paragraph. Synthetic result files only (tests/report_fixtures.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from harness.config import parse_job
from harness.report import build_report
from harness.report.analysis import Analysis, analyse
from harness.report.analysis.decision import CLEAR, CONFIG_SHARE, decide, deciding
from harness.report.load import load_results
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable
from tests.report_fixtures import GEMMA, POLY, QWEN, candidate, make_results_folder, make_run, write_results

PRICES = PriceTable.load(DEFAULT_PRICES_FILE, required=True)
H100_PER_HOUR = 2.50  # benchmarks/gpu-prices.yaml
TWIN_A = candidate("twin-a", 1.43, 30.0, "gpt_neox")
TWIN_B = candidate("twin-b", 1.43, 30.0, "gpt_neox")
NO_QUALITY = {"leaderboard": 0.5, "quality": 0.0, "time": 0.25, "memory": 0.25}  # the seed study's weights


def _analyse(folder: Path, **kw: object) -> Analysis:
    return analyse(load_results(folder), PRICES, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- noise and ties


@pytest.mark.parametrize("seed", range(5))
def test_identical_candidates_differing_only_by_noise_tie(tmp_path: Path, seed: int) -> None:
    """Same architecture, same published figures, step times drawn from the same distribution."""
    runs = [make_run(TWIN_A, 16, seed=seed), make_run(TWIN_B, 16, seed=seed + 100)]
    folder = write_results(tmp_path / "twins", runs, ranking=NO_QUALITY)
    d = _analyse(folder).decision
    assert d.confidence is not None and d.confidence < CLEAR  # never a confident choice
    assert "time" in d.unclear and "memory" in d.unclear  # intervals overlap; equal peaks tie
    files = build_report(folder)
    md = files.markdown.read_text(encoding="utf-8")
    assert "(tie)" in md
    if d.confidence < 0.75:
        assert files.answer.startswith("No clear winner between the models")
    assert "no clear winner on" in files.answer.lower()


def test_deciding_names_each_contenders_best_configuration(tmp_path: Path) -> None:
    step_a = 0.9 * 1.43 + 0.004 * 16
    runs = [make_run(TWIN_A, 16), make_run(TWIN_A, 32), make_run(TWIN_B, 16, train_s=50 * step_a * 1.02),
            make_run(QWEN, 16, train_s=50 * step_a * 3)]  # fmt: skip
    folder = write_results(tmp_path / "deciding", runs, ranking=NO_QUALITY)
    d = _analyse(folder).decision
    rows = deciding(d, top=3)
    assert [r.model for r in rows[:2]] == [m.name for m in d.models[:2]] and len({r.model for r in rows}) == len(rows)
    assert all(
        r is m.best for r, m in zip(rows, d.models[: len(rows)], strict=True)
    )  # each model once, at its best configuration
    assert len(deciding(d, top=1)) == 1
    assert all(m.first_share < 0.05 for m in d.models[len(rows) :])  # the rest never come first


def test_deciding_also_names_a_runner_up_configuration_that_may_lead(tmp_path: Path) -> None:
    """One run a configuration: a runner-up first among its model's in CONFIG_SHARE or more of the resamples is
    repeated too (the H200 seed study of 2026-12-03: FinguAI r32 at 29% led once r16 alone was repeated)."""
    step_a = 0.9 * 1.43 + 0.004 * 16
    runs = [make_run(TWIN_A, 16), make_run(TWIN_A, 32, train_s=50 * step_a * 0.95),  # close: either may lead
            make_run(TWIN_A, 64, train_s=50 * step_a * 1.5),  # far behind: never its model's best
            make_run(TWIN_B, 16, train_s=50 * step_a * 1.02), make_run(QWEN, 16, train_s=50 * step_a * 3)]  # fmt: skip
    d = _analyse(write_results(tmp_path / "runner-up", runs, ranking=NO_QUALITY)).decision
    twin_a = next(m for m in d.models if m.name == "twin-a")
    shares = {r.cell.rank: r.config_share for r in twin_a.rows}
    assert min(shares[16], shares[32]) >= CONFIG_SHARE and shares[64] < CONFIG_SHARE
    named = [(r.model, r.cell.rank) for r in deciding(d, top=3)]
    assert sorted(named[:2]) == [("twin-a", 16), ("twin-a", 32)]  # the leading model's first, both its close ones
    assert ("twin-a", 64) not in named and ("twin-b", 16) in named
    assert [r.model for r in deciding(d, top=1)] == ["twin-a", "twin-a"]  # --top counts models, not lines
    assert d.models[2].first_share < 0.05  # qwen: no contender
    best_only = [(m.name, m.best.cell.rank) for m in d.models[:2]]
    assert [(r.model, r.cell.rank) for r in deciding(d, top=3, config_share=1.0)] == best_only


def test_a_clear_difference_ranks_with_high_confidence(tmp_path: Path) -> None:
    step_a = 0.9 * 1.43 + 0.004 * 16  # the fixture's step for twin-a at r16
    runs = [make_run(TWIN_A, 16), make_run(TWIN_B, 16, train_s=50 * step_a * 1.3)]  # twin-b 30% slower steps
    folder = write_results(tmp_path / "clear", runs, ranking=NO_QUALITY)
    d = _analyse(folder).decision
    assert d.first is not None and d.first.model == "twin-a"
    assert d.confidence is not None and d.confidence >= 0.99
    assert "time" not in d.unclear
    answer = build_report(folder).answer
    assert answer.startswith("Use twin-a at LoRA rank 16") and "a clear choice" in answer


def test_score_is_a_ratio_to_the_best_not_min_max(tmp_path: Path) -> None:
    """Steady steps 0.2, 0.22 and 0.4 s (no one-time cost): time ratios 1, 0.91, 0.5; min-max would give 1, 0.9, 0."""
    cands = [candidate(f"c{i}", 1.0, 30.0, "llama") for i in range(3)]
    runs = [
        make_run(c, 16, steady=[s] * 20, burn=[], setup_s=(0.0, 0.0), outside_s=0.0, mem_mib=5000.0, load_s=0.0)
        for c, s in zip(cands, (0.2, 0.22, 0.4), strict=True)
    ]
    folder = write_results(tmp_path / "ratios", runs, ranking={"leaderboard": 0, "quality": 0, "time": 1, "memory": 0})
    d = _analyse(folder).decision
    ratios = {r.model: r.terms["time"].ratio for r in d.rows}
    assert ratios == pytest.approx({"c0": 1.0, "c1": 0.2 / 0.22, "c2": 0.5})
    assert [m.name for m in d.models] == ["c0", "c1", "c2"]
    assert d.rows[2].score == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("weights", "order"),
    [
        ({"leaderboard": 1, "quality": 0, "time": 0, "memory": 0}, [GEMMA, QWEN, POLY]),
        ({"leaderboard": 0, "quality": 0, "time": 1, "memory": 0}, [POLY, QWEN, GEMMA]),
        ({"leaderboard": 0, "quality": 0, "time": 0, "memory": 1}, [POLY, QWEN, GEMMA]),
        ({"leaderboard": 0, "quality": 1, "time": 0, "memory": 0}, [GEMMA, QWEN, POLY]),
    ],
)
def test_model_order_follows_the_spec_weights(tmp_path: Path, weights: dict, order: list) -> None:
    folder = make_results_folder(tmp_path / "real", "real", ranking=weights)
    d = _analyse(folder).decision
    assert [m.name for m in d.models] == [c["name"] for c in order]
    assert abs(sum(d.used.values()) - 1) < 1e-9


def test_what_would_change_it_names_a_weight_that_does(tmp_path: Path) -> None:
    """Gemma leads on the leaderboard, polyglot is faster: the stated time weight flips the choice."""
    folder = make_results_folder(tmp_path / "real", "real", ranking=NO_QUALITY)
    rs = load_results(folder)
    a = analyse(rs, PRICES)
    first, second = a.decision.models[0].name, a.decision.models[1].name
    line = next(c for c in a.decision.changes if c.startswith(f"{second} comes first with the"))
    term = line.split(" weight above ")[0].rsplit(" ", 1)[1]
    need = float(line.split(" weight above ")[1].split(" ")[0])
    w = dict(NO_QUALITY)
    w[term] = need + 0.01
    assert decide(a.cells, w, 500).models[0].name == second
    w[term] = need - 0.01
    assert decide(a.cells, w, 500).models[0].name == first


# ---------------------------------------------------------------- the team's job


def _hand_run(**kw: object) -> object:
    """Start-up 16.5 s before the load of which 12.5 s converting weights (the harness's), load 3.0 s,
    burn-in 3.0 + 2.0 s, steady steps 0.4/0.6 (mean 0.5; no step shapes recorded), setup 1.0 + 2.0 s, 0.7 s
    outside the steps, 4.0 s of compilation: one-time = 4.0 + 3.0 + 3.0 + (5.0 - 2 x 0.5) + 0.7 + 4.0 = 18.7 s."""
    return make_run(
        GEMMA,
        16,
        burn=[3.0, 2.0],
        steady=[0.4, 0.6] * 10,
        setup_s=(1.0, 2.0),
        outside_s=0.7,
        load_s=3.0,
        one_time={"before_load_s": 16.5, "weights_conversion_s": 12.5, "inductor_compile_s": 4.0},
        **kw,
    )


def test_job_projection_matches_a_hand_computation(tmp_path: Path) -> None:
    job = {"rows": 200, "epochs": 3, "batch_size": 4}  # ceil(200 / 4) = 50 steps an epoch x 3 = 150 steps
    folder = write_results(tmp_path / "job", [_hand_run()], spec_extra={"job": job})
    a = _analyse(folder)
    cell = a.decision.first.cell  # type: ignore[union-attr]
    assert cell.one_time.mean == pytest.approx(18.7)  # weights conversion is the harness's, not the job's
    assert cell.steady.mean == pytest.approx(0.5)
    assert cell.projection is not None and cell.projection.steps == 150 and cell.projection.scale == 1.0
    assert cell.job_time.mean == pytest.approx(18.7 + 150 * 0.5)
    assert 18.7 + 150 * 0.4 < cell.job_time.lo < 93.7 < cell.job_time.hi < 18.7 + 150 * 0.6  # type: ignore[operator]
    assert cell.job_cost.mean == pytest.approx(93.7 / 3600 * H100_PER_HOUR)
    files = build_report(folder)
    row = pd.read_csv(files.results_csv).iloc[0]
    assert row["job_steps"] == 150 and row["job_time_s"] == pytest.approx(93.7)
    assert row["job_cost"] == pytest.approx(93.7 / 3600 * H100_PER_HOUR)
    assert "200 rows x 3 epochs at batch 4 = 150 steps" in files.answer and "94 s" in files.answer


@pytest.mark.parametrize(
    ("job", "steps", "scale", "approx"),
    [
        ("200x3@4/2", 75, 2.0, False),  # accumulation 2: half the steps, each twice the micro-batches
        ("20x10@2/4", 30, 2.0, True),  # ceil(ceil(20/2)/4) = 3 a epoch (transformers 5.17), batch 2 vs 4 measured
        ("600", 600, 1.0, False),  # a step count: at the measured batch
    ],
)
def test_job_given_to_the_report(tmp_path: Path, job: str, steps: int, scale: float, approx: bool) -> None:
    folder = write_results(tmp_path / "job", [_hand_run()])
    cell = _analyse(folder, job=parse_job(job)).cells[0]
    p = cell.projection
    assert p is not None and (p.steps, p.scale, p.approximate) == (steps, scale, approx)
    assert cell.job_time.mean == pytest.approx(18.7 + steps * 0.5 * scale)


def test_no_job_projects_the_measured_run(tmp_path: Path) -> None:
    folder = write_results(tmp_path / "nojob", [_hand_run()])
    cell = _analyse(folder).cells[0]
    train = cell.first.result.phases
    measured = train["load"].wall_s + train["lora"].wall_s + train["train_setup"].wall_s + train["train"].wall_s
    assert cell.projection.steps == 22  # type: ignore[union-attr]
    # the run's own fine-tune from the command: start-up (the conversion left out), load, setup, train, compilation
    assert cell.job_time.mean == pytest.approx(4.0 + measured + 4.0)


# ---------------------------------------------------------------- repeats


def test_repeats_are_pooled_and_their_variation_shown(tmp_path: Path) -> None:
    runs = [make_run(GEMMA, 16, repeat=i, steady=[0.25 + 0.05 * i] * 10, burn=[2.0 + i]) for i in range(3)]
    runs.append(make_run(QWEN, 16))
    folder = write_results(tmp_path / "rep", runs, ranking=NO_QUALITY)
    a = _analyse(folder)
    cell = next(c for c in a.cells if c.candidate == GEMMA["name"])
    assert cell.repeats == 3 and len(a.cells) == 2  # a cell = the same request minus the repeat index
    assert cell.steady.mean == pytest.approx(0.30)  # steps of every repeat, pooled
    assert cell.steady.lo < 0.30 < cell.steady.hi  # type: ignore[operator]  # the repeats' spread, not the steps' (none)
    assert cell.one_time.lo is not None and cell.one_time.lo < cell.one_time.hi  # type: ignore[operator]
    files = build_report(folder)
    html = files.html.read_text(encoding="utf-8")
    assert "Run-to-run variation" in html and "0.250, 0.300, 0.350" in html
    assert "one run per configuration" not in files.answer
    df = pd.read_csv(files.results_csv)
    assert set(df[df["candidate"] == GEMMA["name"]]["cell_repeats"]) == {3}
    assert sorted(df[df["candidate"] == GEMMA["name"]]["repeat"]) == [0, 1, 2]


# ---------------------------------------------------------------- the answer


def test_one_candidate_chooses_among_its_configurations(tmp_path: Path) -> None:
    """The CPU default (`make bench`): one candidate, three ranks; the answer says which rank."""
    cpu_default = {"leaderboard": 0.0, "quality": 0.5, "time": 0.25, "memory": 0.25}
    folder = make_results_folder(tmp_path / "one", "one", ranking=cpu_default)
    files = build_report(folder)
    assert files.answer.startswith("Of the 3 configurations of smollm2-135m measured, use LoRA rank ")
    assert "CPU-only" in files.answer and "How sure: among its 3 configurations" in files.answer
    d = _analyse(folder).decision
    assert d.single_model and math.isclose(sum(r.config_share for r in d.rows), 1.0)
    assert "quality" in d.used  # real weights: quality is in the score


def test_answer_names_model_rank_backend_quant_gpus_time_cost_confidence(tmp_path: Path) -> None:
    runs = [make_run(c, r, quality=q) for c, q in ((GEMMA, 0.9), (POLY, 0.2)) for r in (16, 64)]
    folder = write_results(tmp_path / "ans", runs, spec_extra={"job": {"rows": 200, "epochs": 3, "batch_size": 4}})
    answer = build_report(folder).answer
    for part in (
        "Use gemma-2-2b-it at LoRA rank",
        "backend hf",
        "no quantisation",
        "T4",
        "The team's job (200 rows",
        "one-time cost",
        "$",
        "How sure",
        "bootstrap resamples",
        "What would change it",
    ):
        assert part in answer, part


def test_rows_level_on_the_score_share_first_place(tmp_path: Path) -> None:
    """Memory only, equal peaks: neither twin is first more often than the other."""
    runs = [make_run(TWIN_A, 16, seed=1), make_run(TWIN_B, 16, seed=2)]
    folder = write_results(tmp_path / "level", runs, ranking={"leaderboard": 0, "quality": 0, "time": 0, "memory": 1})
    d = _analyse(folder).decision
    assert [m.first_share for m in d.models] == pytest.approx([0.5, 0.5])
    assert d.unclear == ["memory"]


def test_a_backend_below_a_gpus_compute_capability_does_not_fit_it() -> None:
    """Memory alone would put an Unsloth cell on the team's Quadro M6000 (5.2); its kernels need 7.0."""
    from types import SimpleNamespace

    from harness.report.analysis.fits import capability_problem

    m6000 = next(g for g in PRICES.budget_gpus if g.name == "Quadro M6000")
    t4 = next(g for g in PRICES.budget_gpus if g.name == "T4")

    def cell(backend: str, quant: str = "none", bnb: str | None = None) -> SimpleNamespace:
        return SimpleNamespace(backend=backend, quant=quant, first=SimpleNamespace(packages={"bitsandbytes": bnb}))

    assert capability_problem(cell("hf"), m6000, "fp16") is None
    assert capability_problem(cell("unsloth"), m6000, "fp16") == (
        "unsloth needs compute capability 7.0; the Quadro M6000 has 5.2"
    )
    assert capability_problem(cell("unsloth"), t4, "fp16") is None
    # nf4: bitsandbytes' wheels carry no Maxwell kernels from 0.48.0, so the version the run recorded decides
    assert capability_problem(cell("hf", "nf4", "0.50.2"), m6000, "fp16") == (
        "nf4 (bitsandbytes 0.50.2) needs compute capability 6.0; the Quadro M6000 has 5.2"
    )
    assert capability_problem(cell("hf", "nf4", "0.47.0"), m6000, "fp16") is None
    assert capability_problem(cell("unsloth", "nf4", "0.50.2"), m6000, "fp16") == (
        "unsloth needs compute capability 7.0; the Quadro M6000 has 5.2"
    )
    assert "bf16 is not native" in (capability_problem(cell("hf"), t4, "bf16") or "")
