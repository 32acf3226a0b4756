"""harness.report: CSVs, sections, honesty banners, escaping, no network, embedded plots, failures, paths."""

from __future__ import annotations

import base64
import io
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import UserError
from harness.report import ReportFiles, build_report
from harness.report.analysis.bandwidth import NF4_BYTES_PER_PARAM, bytes_per_param
from harness.report.load import SHAPE_BANNER, load_results
from harness.report.plots import pareto_front
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable
from tests.report_fixtures import (
    GEMMA,
    POLY,
    QWEN,
    SMOL,
    XSS,
    file_stem,
    make_results_folder,
    make_run,
    write_results,
)

pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")


def _csv(path: Path) -> pd.DataFrame:
    """Cells as written: empty stays empty (no NaN guessing)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _section(html: str, sid: str) -> str:
    sec = html[html.index(f'<section id="{sid}">') :]
    return sec[: sec.index("</section>")]


def _build(tmp_path_factory: pytest.TempPathFactory, scenario: str, **kw: object) -> ReportFiles:
    folder = make_results_folder(tmp_path_factory.mktemp(scenario) / scenario, scenario, **kw)  # type: ignore[arg-type]
    return build_report(folder)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return _build(tmp_path_factory, "mixed", xss=True, corrupt=True)


@pytest.fixture(scope="module")
def cpu(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return _build(tmp_path_factory, "cpu")


@pytest.fixture(scope="module")
def shape(tmp_path_factory: pytest.TempPathFactory) -> ReportFiles:
    return _build(tmp_path_factory, "shape")


# ---------------------------------------------------------------- results.csv


def test_results_csv_has_one_row_per_run_including_failed(mixed: ReportFiles) -> None:
    df = _csv(mixed.results_csv)
    n_files = len(list((mixed.folder / "runs").glob("*.json")))
    assert len(df) == n_files - 2  # two corrupt files skipped
    assert set(df["status"]) == {"ok", "oom", "unsupported", "mismatch", "failed"}
    oom = df[df["status"] == "oom"].iloc[0]
    assert "out of memory" in oom["reason"] and oom["injected"] == "True"
    assert oom["candidate"] == POLY["name"] and oom["rank"] == "64"
    for col in (
        "load_s",
        "lora_s",
        "train_setup_s",
        "train_s",
        "generate_base_s",
        "generate_tuned_s",
        "steady_mean_s",
        "steady_p50_s",
        "steady_p90_s",
        "burn_in_s",
        "one_time_s",
        "one_time_setup_s",
        "one_time_first_steps_s",
        "cell_steady_s",
        "cell_steady_lo_s",
        "cell_steady_hi_s",
        "job_time_s",
        "job_time_lo_s",
        "job_time_hi_s",
        "job_cost",
        "job_steps",
        "score",
        "user_work_peak_mib",
        "user_work_peak_phase",
        "scoring_peak_mib",
        "train_nvml_device_peak_mib",
        "train_nvml_process_peak_mib",
        "train_torch_allocated_peak_mib",
        "train_torch_reserved_peak_mib",
        "train_host_rss_peak_mib",
        "gen_tuned_s_per_answer",
        "gen_tuned_tokens_per_s",
        "gen_tuned_latency_s_per_answer",
        "quality_tuned_composite_mean",
        "quality_tuned_composite_lo",
        "quality_tuned_chrf_mean",
        "quality_base_bits_per_char_hi",
        "quality_tuned_hangul_ratio_mean",
        "eff_global_steps",
        "eff_effective_batch",
        "eff_grad_accum",
        "eff_gradient_checkpointing",
        "eff_dtype",
        "eff_padding",
        "eff_optimizer",
        "env_gpu_name",
        "env_driver",
        "pkg_torch",
        "pkg_transformers",
        "pkg_peft",
        "pkg_trl",
        "env_git_sha",
        "billed_hours",
        "cost",
        "energy_j",
        "fits_on",
        "fits_smallest",
        "fits_T4",
        "weights_mode",
        "repeat",
        "license",
    ):
        assert col in df.columns, col
    assert df["rank"].str.fullmatch(r"\d+").all()  # integers stay integers, not 16.0
    ok = df[df["status"] == "ok"]
    assert (ok["train_s"] != "").all() and (ok["cost"] != "").all() and (ok["job_time_s"] != "").all()


def test_results_csv_phase_columns_in_run_order(mixed: ReportFiles) -> None:
    """The phase list is harness.phases's: lora and train_setup sit before train, score last."""
    from harness.phases import PHASE_ORDER

    cols = list(_csv(mixed.results_csv).columns)
    seen = [p for p in PHASE_ORDER if f"{p}_s" in cols]
    assert [cols.index(f"{p}_s") for p in seen] == sorted(cols.index(f"{p}_s") for p in seen)
    assert cols.index("lora_s") < cols.index("train_s") < cols.index("score_s")


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
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+\.csv", n) for n in names)
    df = _csv(mixed.folder / "candidates" / f"{GEMMA['name']}.csv")
    plain = df[(df["backend"] == "hf") & (df["quant"] == "none")]
    assert list(plain["rank"]) == ["16", "32", "64"]
    for col in (
        "finetune_s",
        "finetune_one_time_s",
        "finetune_steady_step_s",
        "finetune_peak_nvml_process_mib",
        "finetune_peak_torch_reserved_mib",
        "inference_s_per_answer",
        "inference_peak_nvml_process_mib",
        "quality_tuned_composite",
    ):
        assert (plain[col] != "").all(), col


# ---------------------------------------------------------------- the page


def test_answer_paragraph_is_the_first_section(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert html.index('<section id="answer">') < html.index('<section id="overview">')
    answer = _section(html, "answer")
    assert "gemma-2-2b-it" in answer and "How sure" in answer and "What would change it" in answer
    assert mixed.answer and mixed.answer.startswith("Use gemma-2-2b-it at LoRA rank")
    md = mixed.markdown.read_text(encoding="utf-8")
    assert md.index("## The answer") < md.index("## What was run")


def test_shape_mode_leaves_quality_out_and_shows_the_banner(shape: ReportFiles) -> None:
    html = shape.html.read_text(encoding="utf-8")
    md = shape.markdown.read_text(encoding="utf-8")
    assert SHAPE_BANNER in html and SHAPE_BANNER in md
    assert "The quality term is left out of the score" in html
    tables = [c[: c.index("</table>")] for c in html.split('<div class="tablewrap"')[1:] if "</table>" in c]
    markers = (
        'id="ranking"',
        'id="configurations"',
        "Every run",
        "per hour",
        "smallest team GPU",
        "Base vs tuned",
        "fine-tune ours",
    )
    for m in markers:
        table = next(t for t in tables if m in t)
        assert SHAPE_BANNER in table, m
    figures = re.findall(r"<figure.*?</figure>", html, flags=re.S)
    assert figures and all(SHAPE_BANNER in f for f in figures)
    assert "not meaningful (shape)" in html
    assert not (shape.folder / "plots" / "quality_vs_cost.png").exists()  # no quality plot from shape runs


def test_mismatch_is_shown_not_compared(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "Mismatched runs (shown, not compared)" in html and "grad_accum: requested 1, effective 2" in html
    conf = _section(html, "ranking")
    assert "r128" in conf and "mismatch" in conf  # listed with its status, not ranked


def test_injected_fault_is_marked(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "oom (injected)" in _section(html, "failures")
    assert "failed on purpose" in _section(html, "overview")


def test_paths_are_relative_and_the_old_command_reads_as_typed(tmp_path: Path) -> None:
    runs = [make_run(GEMMA, 16)]
    folder = write_results(
        tmp_path / "old", runs, command=["/somewhere/else/harness/__main__.py", "sweep", "benchmarks/seed-study.yaml"]
    )
    files = build_report(folder)
    md = files.markdown.read_text(encoding="utf-8")
    assert "python -m harness sweep benchmarks/seed-study.yaml" in md and "__main__.py" not in md
    assert "Prices from benchmarks/gpu-prices.yaml" in md
    assert str(DEFAULT_PRICES_FILE.parent.parent) not in md + files.html.read_text(encoding="utf-8")


# ---------------------------------------------------------------- escaping, no network, plots


def test_script_in_answers_and_reasons_is_escaped(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "<script" not in html.lower()  # nothing from the data, and the page has no scripts of its own
    assert "<b>bold</b>" not in html and "<i>x</i>" not in html
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
    assert names == {
        "memory_vs_rank",
        "time_vs_rank",
        "quality_vs_cost",
        "step_times",
        "backends_vs_plain",
        "loss_curves",
    }
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


def test_quality_vs_cost_plot_from_real_runs(tmp_path: Path) -> None:
    files = build_report(make_results_folder(tmp_path / "real", "real"))
    assert "quality_vs_cost" in {p.stem for p in files.plots}


def test_pareto_front() -> None:
    pts = [(1.0, 10.0), (2.0, 30.0), (2.5, 20.0), (3.0, 40.0), (3.0, 35.0), (0.5, 5.0)]
    assert pareto_front(pts) == [5, 0, 1, 3]


# ---------------------------------------------------------------- failures, corrupt files, warm-up


def test_report_with_zero_ok_runs(tmp_path_factory: pytest.TempPathFactory) -> None:
    files = _build(tmp_path_factory, "failed")
    df = _csv(files.results_csv)
    assert len(df) == 4 and "ok" not in set(df["status"])
    assert files.plots == []
    html = files.html.read_text(encoding="utf-8")
    assert "No ok runs: nothing to rank." in html and "nothing to choose from" in files.answer
    assert "Failed and unsupported runs" in html and "child died with signal 9" in html
    assert "<details>" in html and "torch.OutOfMemoryError" in html  # stderr tail, collapsed


def test_corrupt_run_file_is_skipped_with_a_note(mixed: ReportFiles) -> None:
    html = mixed.html.read_text(encoding="utf-8")
    assert "truncated-r16-hf-none-000000000000.json" in html and "other-schema.json" in html
    assert any("skipped" in n for n in mixed.notes)


def test_result_files_outside_the_plan_and_warm_up_runs_are_left_out(tmp_path: Path) -> None:
    folder = make_results_folder(tmp_path / "real", "real")
    stale = make_run(GEMMA, 8)  # an earlier plan of this sweep: its key is not in manifest.json
    stale.write(folder / "runs" / f"{file_stem(stale)}.json")
    warm = make_run(QWEN, 16, seed=9)
    warm = warm.model_copy(update={"request": warm.request.model_copy(update={"warmup": True})})
    warm.write(folder / "runs" / f"{file_stem(warm)}.json")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["runs"].append({"key": "f" * 64, "stem": "planned-but-not-run", "label": "qwen r256 planned"})
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    files = build_report(folder)
    assert len(_csv(files.results_csv)) == 9
    assert any("earlier plan" in n for n in files.notes) and any("warm-up" in n for n in files.notes)
    # a warm-up's key is never in the manifest: it is a warm-up, not a file of an earlier plan
    assert not any("earlier plan" in n and file_stem(warm) in n for n in files.notes)
    html = files.html.read_text(encoding="utf-8")
    assert "have no readable result file" in html and "qwen r256 planned" in html


def test_empty_results_folder(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    files = build_report(tmp_path)
    assert _csv(files.results_csv).empty
    assert "No ok runs" in files.html.read_text(encoding="utf-8")
    with pytest.raises(UserError):
        build_report(tmp_path / "missing")


def test_named_price_file_must_exist(tmp_path: Path) -> None:
    folder = make_results_folder(tmp_path / "f", "failed")
    with pytest.raises(UserError, match="price file not found"):
        build_report(folder, prices_file=tmp_path / "nope.yaml")


def test_old_schema_results_still_load(tmp_path: Path) -> None:
    """A schema-1 file (composite stored, quality_weights in the request) reads and is re-scored."""
    run = make_run(GEMMA, 16)
    raw = run.to_dict()
    raw["schema_version"] = 1
    raw["request"]["quality_weights"] = {"chrf": 1.0}
    raw["quality"]["composite"] = {"tuned": {"mean": 99.9, "lo": 99.0, "hi": 100.0, "n": 6}}
    for a in raw["answers"]:
        a["scores"]["composite"] = 99.9
    folder = write_results(tmp_path / "old", [run])
    (folder / "runs" / f"{file_stem(run)}.json").write_text(json.dumps(raw), encoding="utf-8")
    rs = load_results(folder)
    assert len(rs.runs) == 1 and rs.runs[0].result.schema_version == 2
    files = build_report(folder)
    q = _csv(files.results_csv).iloc[0]["quality_tuned_composite_mean"]
    assert q != "" and abs(float(q) - 99.9) > 1  # computed now from the metrics, not the stored 99.9


# ---------------------------------------------------------------- cost, fits, published, backends, quality


def test_price_file_and_gpu_matching() -> None:
    p = PriceTable.load(DEFAULT_PRICES_FILE, required=True)
    assert "2026-11" in (p.data.as_of or "") and "example" in (p.data.note or "").lower()
    names = {
        g: p.match_gpu(g).name  # type: ignore[union-attr]
        for g in (
            "NVIDIA A100-SXM4-80GB",
            "NVIDIA A100-SXM4-40GB",
            "NVIDIA A10G",
            "Tesla T4",
            "NVIDIA H100 80GB HBM3",
            "NVIDIA L4",
        )
    }
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
    assert peak == float(g64["user_work_peak_mib"])
    assert float(g64["fits_needed_mib"]) == pytest.approx(peak * 1.1)
    # measured in bf16 on an H100: it says nothing of the T4 or the M6000, which train in fp16 (harness.dtypes);
    # without an emulated run or the memory model (the sweep's own report has neither) that is unknown
    assert g64["fits_T4"] == "unknown" and g64["fits_T4_dtype"] == "fp16" and g64["fits_T4_basis"] == "unknown"
    assert g64["fits_Quadro M6000"] == "unknown" and g64["fits_Quadro M6000_dtype"] == "fp16"
    assert g64["fits_H100 80GB"] == "yes" and g64["fits_H100 80GB_basis"] == "measured"
    assert g64["fits_A100 40GB"] == ("yes" if peak * 1.1 <= 40 * 1024 else "no")  # bf16 native: the same dtype
    html = mixed.html.read_text(encoding="utf-8")
    assert "margin of 10%" in html and "as of 2026-11" in html


def test_fits_on_uses_the_users_work_not_the_scoring_pass(tmp_path: Path) -> None:
    """The answer-likelihood pass (eval_*) can be the largest phase; it never sets 'fits on'."""
    run = make_run(GEMMA, 16, mem_mib=9000.0, eval_mem_mib=16500.0)  # train fits a T4 (15 GiB); eval would not
    run.effective.dtype = "fp16"  # type: ignore[union-attr]  # measured in the dtype a T4 trains in
    files = build_report(write_results(tmp_path / "f", [run]))
    row = _csv(files.results_csv).iloc[0]
    assert float(row["user_work_peak_mib"]) == 9000.0 and row["user_work_peak_phase"] == "train"
    assert float(row["scoring_peak_mib"]) == 16500.0 and row["scoring_peak_phase"] in ("eval_base", "eval_tuned")
    assert row["fits_T4"] == "yes"
    fits = _section(files.html.read_text(encoding="utf-8"), "fits")
    assert "16.1 GiB" in fits  # the scoring pass, shown apart
    assert "It fits the T4 (in fp16, measured)" in files.answer


def test_published_figures_side_by_side_come_from_the_run(mixed: ReportFiles) -> None:
    sec = _section(mixed.html.read_text(encoding="utf-8"), "published")
    assert "theirs" in sec and "torch.cuda.memory_allocated() after training, not a peak" in sec
    assert "312 s" in sec  # their r16 fine-tune time, from the candidate stored in the run


def test_backends_section(mixed: ReportFiles, tmp_path: Path) -> None:
    sec = _section(mixed.html.read_text(encoding="utf-8"), "backends")
    assert "about 2x faster" in sec and "70% less memory" in sec
    assert "Ours ran on: quant nf4, batch 4, accumulation 1, rank 32" in sec
    assert "unsloth" in sec and "liger" in sec  # backend names from the results
    assert re.search(r"\d\.\d\dx \[\d\.\d\d, \d\.\d\d\]", sec)  # speed-up with its interval
    assert "after " in sec and " steps" in sec  # the break-even job length
    real = build_report(make_results_folder(tmp_path / "real", "real"))
    assert 'id="backends"' not in real.html.read_text(encoding="utf-8")


def test_break_even_says_when_the_speed_up_is_not_measured() -> None:
    from harness.report.analysis.backends import pays_back
    from harness.report.analysis.stats import Est

    clear = Est(1.27, 1.11, 1.44, 50)
    steps, text = pays_back(0.264, 0.208, 91.5, clear)
    assert math.ceil(steps) == 1_634 and text == "after 1,634 steps"
    # llama1B r64 liger on the H200: 0.1353 vs 0.1349 s a step, 1.00x [0.88, 1.15], 0.8 s less one-time
    steps, text = pays_back(0.1353, 0.1349, -0.8, Est(1.00, 0.88, 1.15, 50))
    assert steps == 0.0 and text.startswith("at once") and "not measurably different" in text
    assert "not measurably different" not in pays_back(0.3, 0.4, 1.0, Est(0.75, 0.69, 0.80, 50))[1]
    assert pays_back(0.3, 0.4, 1.0, Est(0.75, 0.69, 0.80, 50))[1].startswith("never")


def test_quality_section(mixed: ReportFiles) -> None:
    sec = _section(mixed.html.read_text(encoding="utf-8"), "quality")
    assert "Base vs tuned" in sec and "tuned − base (paired)" in sec
    assert "Paired bootstrap between the top 3 runs" in sec
    assert re.search(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\] \(n=6\)", sec)
    assert "Human grades" in sec and "4.17" in sec  # mean of 5, 4, 4, 3, 5, 4
    assert "Sample answers" in sec and "오늘 기분 어때?" in sec
    assert "bits_per_char" in sec and "harness.quality&#39;s defaults" in sec


def test_reweighting_quality_needs_no_rerun(tmp_path: Path) -> None:
    folder = make_results_folder(tmp_path / "real", "real")
    before = {p.name: p.read_bytes() for p in (folder / "runs").glob("*.json")}
    default = _csv(build_report(folder).results_csv)
    chrf_only = _csv(
        build_report(
            folder,
            quality_weights={
                **dict.fromkeys(("contains", "hangul", "clean", "complete", "distinct", "likelihood"), 0.0),
                "chrf": 1.0,
            },
        ).results_csv
    )
    assert {p.name: p.read_bytes() for p in (folder / "runs").glob("*.json")} == before  # result files untouched
    a = default["quality_tuned_composite_mean"].astype(float)
    b = chrf_only["quality_tuned_composite_mean"].astype(float)
    assert (a - b).abs().max() > 1.0
    assert (b - chrf_only["quality_tuned_chrf_mean"].astype(float)).abs().max() < 1e-6  # chrF only: the mean chrF


def test_bandwidth_floor_counts_nf4_at_half_a_byte() -> None:
    assert bytes_per_param("none", "bf16") == 2.0 and bytes_per_param("none", "fp32") == 4.0
    assert bytes_per_param("nf4", "bf16") == NF4_BYTES_PER_PARAM == pytest.approx(0.5625)


def test_selfbench_section_with_floor(tmp_path: Path) -> None:
    runs = [make_run(GEMMA, 16), make_run(GEMMA, 16, quant="nf4")]
    folder = write_results(tmp_path / "sb", runs)
    (folder / "selfbench.json").write_text(json.dumps({"bandwidth": {"gb_per_s_read_plus_write": 2000.0}}))
    sec = _section(build_report(folder).html.read_text(encoding="utf-8"), "selfbench")
    params = int(GEMMA["params_b"] * 1e9)
    assert f"{params * 2 / 2000e9 * 1e3:.2f}" in sec  # 16-bit floor, ms per token
    assert f"{params * NF4_BYTES_PER_PARAM / 2000e9 * 1e3:.2f}" in sec  # nf4 floor
    assert "0.56" in sec and "device copy bandwidth" in sec


def test_cli_report_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    folder = make_results_folder(tmp_path / "one", "one")
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert str(folder / "report.html") in out and str(folder / "results.csv") in out
    assert SMOL["name"] in (folder / "report.md").read_text(encoding="utf-8")


def test_sweep_overhead_parts_add_up_to_the_wall_time() -> None:
    """The team's work (user-work phases of ok runs) and the harness's parts sum to the invocation's wall."""
    from harness.phases import USER_WORK
    from harness.report.sections.selfbench import overhead_parts

    ok = make_run(GEMMA, 16, weights="shape", one_time={"latency_tuned_burn_in_s": 7.0})
    ok.wall_s = sum(p.wall_s for p in ok.phases.values()) + 7.0 + 4.0  # 4 s of start-up outside phases
    bad = make_run(GEMMA, 32, weights="shape", status="oom", reason="CUDA out of memory")
    bad.wall_s = 9.0
    wall = ok.wall_s + bad.wall_s + 30.0 + 2.5  # a 30 s warm-up run and 2.5 s of the parent's own
    parts = overhead_parts([ok, bad], wall, 30.0)
    work = sum(p.wall_s for k, p in ok.phases.items() if k in USER_WORK)
    assert parts["work"] == pytest.approx(work) and work > 0
    assert (
        parts["burn_ins"] == pytest.approx(7.0)
        and parts["startup"] == pytest.approx(4.0)
        and parts["not_ok"] == pytest.approx(9.0)
    )
    assert parts["between"] == pytest.approx(2.5)
    assert sum(v for v in parts.values() if v is not None) == pytest.approx(wall)
    assert overhead_parts([ok], ok.wall_s, None)["between"] is None  # no warm-up figure: nothing to subtract


def test_an_earlier_attempt_of_a_redone_run_counts_in_its_invocations_overhead(tmp_path: Path) -> None:
    """A run cancelled at a time limit and redone later: its earlier try (attempts/) is not ranked, but its
    seconds stay in the overhead of the invocation it ran in, as "not ok", not as time between runs."""
    from tests.report_fixtures import file_stem

    ok = make_run(GEMMA, 16, weights="shape")  # started 10:00, in the first invocation
    second = make_run(GEMMA, 64, weights="shape").model_copy(update={"started_at": "2026-11-20T11:00:05+00:00"})
    second.wall_s = 30.0  # in the second
    tried = make_run(GEMMA, 32, weights="shape", status="cancelled", reason="cancelled (Ctrl-C) while running")
    tried = tried.model_copy(update={"started_at": "2026-11-20T09:59:00+00:00", "wall_s": 86.0})
    folder = write_results(tmp_path / "redone", [ok, second], weights="shape")
    (folder / "attempts").mkdir()
    tried.write(folder / "attempts" / f"{file_stem(tried)}-1.json")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    wall = 86.0 + ok.wall_s + 3.0
    manifest["invocations"] = [{"started_at": "2026-11-20T09:58:00+00:00", "finished_at": "2026-11-20T10:30:00+00:00",
                                "wall_s": wall, "warmup_s": 0.0, "workers": 1},
                               {"started_at": "2026-11-20T11:00:00+00:00", "finished_at": "2026-11-20T11:30:00+00:00",
                                "wall_s": 40.0, "warmup_s": 0.0, "workers": 1}]  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    rs = load_results(folder)
    assert [r.result.status for r in rs.runs] == ["ok", "ok"] and [a.result.status for a in rs.attempts] == [
        "cancelled"
    ]
    md = build_report(folder).markdown.read_text(encoding="utf-8")
    lines = md.splitlines()
    cells = [
        c.strip() for c in next(ln for ln in lines if ln.startswith("| 2026-11-20T09:58:00")).strip("|").split("|")
    ]
    assert cells[1] == "2" and cells[9] == "3.0" and cells[10] == "86.0"  # runs, between runs, not ok
    # the whole study in one row: sums of the invocations, and its own wall / work
    total = [c.strip() for c in next(ln for ln in lines if ln.startswith("| all 2 invocations")).strip("|").split("|")]
    assert total[1] == "3" and total[2] == f"{wall + 40.0:.1f}" and total[9] == "13.0" and total[10] == "86.0"
    assert float(total[4]) == pytest.approx((wall + 40.0) / float(total[3]), abs=0.01)
    assert "1 earlier attempt(s) of runs that were redone" in md and "gemma-2-2b-it r32 hf none shape (cancelled)" in md


def test_shape_runs_without_batched_answers_compare_their_one_at_a_time_stage(tmp_path: Path) -> None:
    """Shape mode runs no batched answers: the published-figures table says so and takes the latency stage."""
    run = make_run(GEMMA, 16, weights="shape")
    phases = {k: v for k, v in run.phases.items() if not k.startswith(("generate_", "eval_"))}
    phases["latency_tuned"] = run.phases["generate_tuned"].model_copy(update={"torch_max_allocated_mib": 5147.0})
    run = run.model_copy(update={"phases": phases})
    files = build_report(write_results(tmp_path / "shape-latency", [run]))
    md = files.markdown.read_text(encoding="utf-8")
    table = md[md.index("## Ours vs the team's published figures") :]
    row = next(line for line in table.splitlines() if line.startswith("| gemma-2-2b-it r16"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[10] == "—" and cells[13] == "5147"  # no batched figure; the latency stage's allocation


def test_what_set_the_figures_apart_is_said_up_front(tmp_path: Path) -> None:
    """Stand-in tokenizers and RWKV without its kernel are warned about under "What was run"."""
    run = make_run(POLY, 16, weights="shape")
    weights = run.weights.model_copy(update={"tokenizer_kind": "stand-in"})  # type: ignore[union-attr]
    cand = run.request.candidate.model_copy(update={"model_type": "rwkv"})
    effective = run.effective.model_copy(update={"attention": "rwkv pytorch loop (no kernel)"})  # type: ignore[union-attr]
    run = run.model_copy(
        update={
            "weights": weights,
            "effective": effective,
            "request": run.request.model_copy(update={"candidate": cand}),
        }
    )
    md = build_report(write_results(tmp_path / "apart", [run])).markdown.read_text(encoding="utf-8")
    overview = md[md.index("## What was run") : md.index("## Environment")]
    assert "Stand-in tokenizer for polyglot-ko-1.3b" in overview
    assert "polyglot-ko-1.3b ran RWKV attention as transformers' PyTorch loop" in overview


def test_burn_in_check_compares_the_first_timed_answer_with_the_rest(tmp_path: Path) -> None:
    run = make_run(GEMMA, 16, weights="shape", one_time={"latency_tuned_burn_in_s": 12.5})
    gens = [g.model_copy(update={"latency_answer_s": [6.0, 3.0, 3.0]}) for g in run.generation]
    md = build_report(write_results(tmp_path / "burn", [run.model_copy(update={"generation": gens})])).markdown
    text = md.read_text(encoding="utf-8")
    assert "Was the latency burn-in enough?" in text
    assert "| gemma-2-2b-it r16 hf none shape | tuned | 12.50 | 6.00 | 3.00 | 2.00 |" in text
