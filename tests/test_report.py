"""harness.report: CSVs, ranking, honesty banners, escaping, no network, embedded plots, failures."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.config import RankingWeights
from harness.errors import UserError
from harness.report import ReportFiles, build_report, main_report
from harness.report.load import SHAPE_BANNER, load_results
from harness.report.plots import pareto_front
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable
from harness.report.ranking import rank
from tests.report_fixtures import GEMMA, POLY, QWEN, XSS, file_stem, make_results_folder, make_run, write_candidates

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")


def _csv(path: Path) -> pd.DataFrame:
    """Cells as written: empty stays empty (no NaN guessing)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def cands(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_candidates(tmp_path_factory.mktemp("cands") / "candidates.yaml")


def _build(tmp_path_factory: pytest.TempPathFactory, cands: Path, scenario: str, **kw: object) -> ReportFiles:
    folder = make_results_folder(tmp_path_factory.mktemp(scenario) / scenario, scenario, **kw)  # type: ignore[arg-type]
    return build_report(folder, candidates_file=cands)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, cands: Path) -> ReportFiles:
    return _build(tmp_path_factory, cands, "mixed", xss=True, corrupt=True)


@pytest.fixture(scope="module")
def cpu(tmp_path_factory: pytest.TempPathFactory, cands: Path) -> ReportFiles:
    return _build(tmp_path_factory, cands, "cpu")


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory, cands: Path) -> ReportFiles:
    return _build(tmp_path_factory, cands, "shape")


# ---------------------------------------------------------------- results.csv


def test_results_csv_has_one_row_per_run_including_failed(mixed: ReportFiles) -> None:
    df = _csv(mixed.results_csv)
    n_files = len(list((mixed.folder / "runs").glob("*.json")))
    assert len(df) == n_files - 2  # two corrupt files skipped
    assert set(df["status"]) == {"ok", "oom", "unsupported", "mismatch"}
    oom = df[df["status"] == "oom"].iloc[0]
    assert "out of memory" in oom["reason"]
    assert oom["candidate"] == POLY["name"] and oom["rank"] == "64"
    for col in (
        "load_s", "train_s", "generate_base_s", "generate_tuned_s", "steady_mean_s", "steady_p50_s", "steady_p90_s",
        "burn_in_s", "train_nvml_device_peak_mib", "train_nvml_process_peak_mib", "train_torch_allocated_peak_mib",
        "train_torch_reserved_peak_mib", "train_host_rss_peak_mib", "gen_tuned_s_per_answer", "gen_tuned_tokens_per_s",
        "gen_tuned_latency_s_per_answer", "quality_tuned_composite_mean", "quality_tuned_composite_lo",
        "quality_tuned_chrf_mean", "quality_base_bits_per_char_hi", "quality_tuned_hangul_ratio_mean", "eff_global_steps",
        "eff_effective_batch", "eff_grad_accum", "eff_gradient_checkpointing", "eff_dtype", "eff_padding", "eff_optimizer",
        "env_gpu_name", "env_driver", "pkg_torch", "pkg_transformers", "pkg_peft", "pkg_trl", "env_git_sha",
        "billed_hours", "cost", "energy_j", "fits_on", "fits_T4", "weights_mode",
    ):  # fmt: skip
        assert col in df.columns, col
    assert df["rank"].str.fullmatch(r"\d+").all()  # integers stay integers, not 16.0
    ok = df[df["status"] == "ok"]
    assert (ok["train_s"] != "").all() and (ok["cost"] != "").all()


def test_null_gpu_fields_stay_empty_not_zero(cpu: ReportFiles, mixed: ReportFiles) -> None:
    df = _csv(cpu.results_csv)
    for col in (
        "train_nvml_process_peak_mib",
        "train_torch_reserved_peak_mib",
        "train_energy_j",
        "env_gpu_name",
        "fits_T4",
    ):
        assert (df[col] == "").all(), col
    assert (df["train_host_rss_peak_mib"] != "").all()
    assert (df["fits_on"] == "n/a (CPU run)").all()
    unsupported = _csv(mixed.results_csv).query("status == 'unsupported'").iloc[0]
    assert unsupported["train_s"] == "" and unsupported["train_nvml_process_peak_mib"] == ""
    cand = _csv(next(p for p in cpu.candidate_csvs if p.stem == QWEN["name"]))
    assert (cand["finetune_peak_nvml_process_mib"] == "").all()
    md = cpu.markdown.read_text(encoding="utf-8")
    assert "host RSS" in md and "0.0 GiB" not in md
    assert "Not applicable: these are CPU-only runs" in md


def test_per_candidate_csv_in_the_teams_shape(mixed: ReportFiles) -> None:
    names = {p.name for p in mixed.candidate_csvs}
    assert f"{GEMMA['name']}.csv" in names
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+\.csv", n) for n in names)  # sanitised (the XSS name too)
    df = _csv(mixed.folder / "candidates" / f"{GEMMA['name']}.csv")
    plain = df[(df["backend"] == "hf") & (df["quant"] == "none")]
    assert list(plain["rank"]) == ["16", "32", "64"]
    for col in (
        "finetune_s",
        "finetune_peak_nvml_process_mib",
        "finetune_peak_torch_reserved_mib",
        "inference_s_per_answer",
        "inference_peak_nvml_process_mib",
        "quality_tuned_composite",
    ):
        assert (plain[col] != "").all(), col


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("weights", "order"),
    [
        ({"leaderboard": 1, "quality": 0, "time": 0, "memory": 0}, [GEMMA, QWEN, POLY]),
        ({"leaderboard": 0, "quality": 0, "time": 1, "memory": 0}, [POLY, QWEN, GEMMA]),
        ({"leaderboard": 0, "quality": 0, "time": 0, "memory": 1}, [POLY, QWEN, GEMMA]),
        ({"leaderboard": 0, "quality": 1, "time": 0, "memory": 0}, [GEMMA, QWEN, POLY]),
    ],
)
def test_ranking_order_follows_the_manifest_weights(tmp_path: Path, cands: Path, weights: dict, order: list) -> None:
    folder = make_results_folder(tmp_path / "real", "real", ranking=weights)
    rs = load_results(folder, cands)
    assert rs.ranking_weights == RankingWeights(**weights)
    ranking = rank(rs)
    assert [r.candidate for r in ranking.ranked] == [c["name"] for c in order]
    assert ranking.ref_rank == 64 and ranking.common_rank


def test_ranking_table_order_and_weights_in_the_page(tmp_path: Path, cands: Path) -> None:
    folder = make_results_folder(
        tmp_path / "real", "real", ranking={"leaderboard": 0, "quality": 0, "time": 1, "memory": 0}
    )
    files = build_report(folder, candidates_file=cands)
    html = files.html.read_text(encoding="utf-8")
    table = html[html.index('<table class="ranking">') :]
    table = table[: table.index("</table>")]
    pos = [table.index(c["name"]) for c in (POLY, QWEN, GEMMA)]
    assert pos == sorted(pos)
    assert "First choice: polyglot-ko-1.3b" in html and "fastest fine-tune at rank 64" in html
    assert "Second choice: qwen2.5-1.5b-instruct" in html
    md = files.markdown.read_text(encoding="utf-8")
    assert "| time | fine-tune wall time | lower is better | 1.00 | 1.00 |" in md
    assert SHAPE_BANNER not in html  # real weights: no banner


def test_default_weights_rank_on_quality_when_meaningful(tmp_path: Path, cands: Path) -> None:
    rs = load_results(make_results_folder(tmp_path / "real", "real"), cands)
    ranking = rank(rs)
    assert set(ranking.used) == {"leaderboard", "quality", "time", "memory"}
    assert abs(sum(ranking.used.values()) - 1) < 1e-9
    scores = [r.score for r in ranking.ranked]
    assert scores == sorted(scores, reverse=True)
    for r in ranking.ranked:
        assert r.score == pytest.approx(sum(ranking.used[t] * r.terms[t] for t in ranking.used))
        assert all(0.0 <= r.terms[t] <= 1.0 for t in ranking.used)
    best_lb = max(ranking.ranked, key=lambda r: r.raw["leaderboard"])
    assert best_lb.candidate == GEMMA["name"] and best_lb.terms["leaderboard"] == 1.0


def test_shape_mode_leaves_quality_out_and_shows_the_banner(shape: ReportFiles) -> None:
    rs = load_results(shape.folder)
    ranking = rank(rs)
    assert "quality" in ranking.left_out and "quality" not in ranking.used
    assert abs(sum(ranking.used.values()) - 1) < 1e-9
    html = shape.html.read_text(encoding="utf-8")
    md = shape.markdown.read_text(encoding="utf-8")
    assert SHAPE_BANNER in html and SHAPE_BANNER in md
    assert "The quality term is left out of the score" in html
    # every table that shows figures and every figure carries the banner
    tables = [c[: c.index("</table>")] for c in html.split('<div class="tablewrap"')[1:] if "</table>" in c]
    markers = (
        'id="ranking"',
        "Every run",
        "per hour",
        "peak + 10%",
        "Base vs tuned",
        "Paired bootstrap",
        "fine-tune ours",
    )
    for m in markers:
        table = next(t for t in tables if m in t)
        assert SHAPE_BANNER in table, m
    figures = re.findall(r"<figure.*?</figure>", html, flags=re.S)
    assert figures and all(SHAPE_BANNER in f for f in figures)
    assert "not meaningful (shape)" in html


def test_first_and_second_choice_sentences_come_from_the_numbers(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    first = re.search(r"First choice: (.*?)</p>", html).group(1)  # type: ignore[union-attr]
    assert "gemma-2-2b-it" in first and "highest leaderboard average (40.4)" in first
    assert re.search(r"fits a T4 at rank \d+ \(\d+\.\d GiB peak\)", first)
    assert "Second choice:" in html


def test_mismatch_is_shown_not_compared(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "Mismatched runs (shown, not compared)" in html and "grad_accum: requested 1, effective 2" in html
    rs = load_results(mixed.folder)
    qwen = next(r for r in rank(rs).rows if r.candidate == QWEN["name"] and r.variant[1] == "hf")
    assert 128 not in qwen.ok_by_rank() and qwen.status_by_rank()[128] == "mismatch"


# ---------------------------------------------------------------- escaping, no network, plots


def test_script_in_answer_and_candidate_name_is_escaped(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "<script" not in html.lower()  # nothing from the data, and the page has no scripts of its own
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the answer is there, as text
    md = mixed.markdown.read_text(encoding="utf-8")
    assert XSS not in md and "&lt;script&gt;" in md
    assert not any("<" in p.name for p in mixed.folder.rglob("*"))


def test_html_has_no_network_references(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert not re.search(r"https?://", html)
    assert not re.search(r"<(link|script|iframe|object|embed)\b", html, flags=re.I)
    assert "@import" not in html and "url(" not in html
    for src in re.findall(r'src="([^"]*)"', html):
        assert src.startswith("data:image/png;base64,")


def test_plots_are_embedded_and_saved(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    uris = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    names = {p.stem for p in mixed.plots}
    assert names == {"memory_vs_rank", "time_vs_rank", "quality_vs_cost", "step_times", "unsloth_vs_plain"}
    assert len(uris) == len(mixed.plots)
    from PIL import Image

    for u in uris:
        png = base64.b64decode(u)
        assert png.startswith(b"\x89PNG")
        assert Image.open(io.BytesIO(png)).size[0] >= 600
    for p in mixed.plots:
        assert p.exists() and p.read_bytes().startswith(b"\x89PNG")
    md = mixed.markdown.read_text(encoding="utf-8")
    assert "](plots/memory_vs_rank.png)" in md


def test_pareto_front() -> None:
    pts = [(1.0, 10.0), (2.0, 30.0), (2.5, 20.0), (3.0, 40.0), (3.0, 35.0), (0.5, 5.0)]
    assert pareto_front(pts) == [5, 0, 1, 3]


# ---------------------------------------------------------------- failures, corrupt files


def test_report_with_zero_ok_runs(tmp_path_factory: pytest.TempPathFactory, cands: Path) -> None:
    files = _build(tmp_path_factory, cands, "failed")
    df = _csv(files.results_csv)
    assert len(df) == 4 and "ok" not in set(df["status"])
    assert files.plots == []
    html = files.html.read_text(encoding="utf-8")
    assert "No ok runs: nothing to rank." in html
    assert "Failed and unsupported runs" in html and "child died with signal 9" in html
    assert "<details>" in html and "torch.OutOfMemoryError" in html  # stderr tail, collapsed


def test_corrupt_run_file_is_skipped_with_a_note(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "truncated-r16-hf-none-000000000000.json" in html and "other-schema.json" in html
    assert any("skipped" in n for n in mixed.notes)


def test_result_files_outside_the_manifest_plan_are_left_out(tmp_path: Path, cands: Path) -> None:
    folder = make_results_folder(tmp_path / "real", "real")
    stale = make_run(GEMMA, 8)  # an earlier plan of this sweep: its key is not in manifest.json
    stale.write(folder / "runs" / f"{file_stem(stale)}.json")
    import json

    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["runs"].append({"key": "f" * 64, "stem": "planned-but-not-run", "label": "qwen r256 planned"})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    files = build_report(folder, candidates_file=cands)
    assert len(_csv(files.results_csv)) == 9
    assert any("earlier plan" in n for n in files.notes)
    assert "1 have no readable result file" in files.html.read_text(encoding="utf-8")
    assert "qwen r256 planned" in files.html.read_text(encoding="utf-8")


def test_empty_results_folder(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    files = build_report(tmp_path)
    assert _csv(files.results_csv).empty
    assert "No ok runs" in files.html.read_text(encoding="utf-8")
    with pytest.raises(UserError):
        build_report(tmp_path / "missing")


def test_named_candidates_file_must_exist(tmp_path: Path) -> None:
    folder = make_results_folder(tmp_path / "f", "failed")
    with pytest.raises(UserError, match="not found"):
        build_report(folder, candidates_file=tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="price file not found"):
        build_report(folder, prices_file=tmp_path / "nope.yaml")


# ---------------------------------------------------------------- cost, fits, published, unsloth, quality


def test_price_file_and_gpu_matching() -> None:
    p = PriceTable.load(DEFAULT_PRICES_FILE, required=True)
    assert "2026-11" in (p.data.as_of or "") and "example" in (p.data.note or "").lower()
    names = {
        g: p.match_gpu(g).name
        for g in (
            "NVIDIA A100-SXM4-80GB",
            "NVIDIA A100-SXM4-40GB",
            "NVIDIA A10G",
            "Tesla T4",
            "NVIDIA H100 80GB HBM3",
            "NVIDIA L4",
        )
    }  # type: ignore[union-attr]
    assert names == {
        "NVIDIA A100-SXM4-80GB": "A100 80GB",
        "NVIDIA A100-SXM4-40GB": "A100 40GB",
        "NVIDIA A10G": "A10G",
        "Tesla T4": "Tesla T4",
        "NVIDIA H100 80GB HBM3": "H100 80GB",
        "NVIDIA L4": "L4",
    }
    assert p.match_gpu("Some Unknown GPU") is None
    assert [g.name for g in p.budget_gpus][:2] == ["T4", "Quadro M6000"]
    assert p.cost(2.0, "cpu", None).money == pytest.approx(2.0 * p.data.cpu.usd_per_hour)  # type: ignore[union-attr]
    assert p.margin == pytest.approx(0.10)


def test_cost_energy_and_fits_columns(mixed: ReportFiles) -> None:
    df = _csv(mixed.results_csv)
    g64 = df[(df["candidate"] == GEMMA["name"]) & (df["rank"] == "64") & (df["quant"] == "none")].iloc[0]
    assert g64["price_name"] == "H100 80GB" and float(g64["cost"]) > 0 and float(g64["energy_j"]) > 0
    peak = float(g64["fits_peak_mib"])
    assert float(g64["fits_needed_mib"]) == pytest.approx(peak * 1.1)
    assert g64["fits_T4"] == ("yes" if peak * 1.1 <= 15 * 1024 else "no")
    assert g64["fits_Quadro M6000"] == ("yes" if peak * 1.1 <= 12 * 1024 else "no")
    assert g64["fits_H100 80GB"] == "yes"
    html = mixed.html.read_text(encoding="utf-8")
    assert "margin of 10%" in html and "as of 2026-11" in html


def test_published_figures_side_by_side(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    sec = html[html.index('<section id="published">') :]
    sec = sec[: sec.index("</section>")]
    assert "theirs" in sec and "torch.cuda.memory_allocated() after training, not a peak" in sec
    assert "312 s" in sec  # their r16 fine-tune time, beside ours


def test_unsloth_vs_plain_section(mixed: ReportFiles, tmp_path: Path, cands: Path) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    sec = html[html.index('<section id="unsloth">') :]
    sec = sec[: sec.index("</section>")]
    assert "about 2x faster" in sec and "70% less memory" in sec
    assert "Ours ran on: quant nf4, batch 4, accumulation 1, rank 32" in sec
    assert "burn-in" in sec and "speedup" in sec
    real = build_report(make_results_folder(tmp_path / "real", "real"), candidates_file=cands)
    assert 'id="unsloth"' not in real.html.read_text(encoding="utf-8")


def test_quality_section(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    sec = html[html.index('<section id="quality">') :]
    sec = sec[: sec.index("</section>")]
    assert "Base vs tuned" in sec and "tuned − base (paired)" in sec
    assert "Paired bootstrap between the top 3 runs" in sec
    assert re.search(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] \(n=6\)", sec)
    assert "Human grades" in sec and "4.17" in sec  # mean of 5, 4, 4, 3, 5, 4
    assert "Sample answers" in sec and "오늘 기분 어때?" in sec
    assert "bits_per_char" in sec


def test_main_report_prints_the_paths(mixed: ReportFiles, capsys: pytest.CaptureFixture[str]) -> None:
    main_report(mixed.folder)
    out = capsys.readouterr().out
    assert str(mixed.html) in out and str(mixed.results_csv) in out
