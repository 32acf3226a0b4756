"""The memory model (harness.memory): hand-computed arithmetic on tiny configs, the fit and leave-one-out on
synthetic runs, the `fits` command, and the published coefficients."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import UserError
from harness.memory import GPUS, Settings, fit_table, fits_on, largest, predict
from harness.memory.activations import layer_activations
from harness.memory.coefficients import COEFFICIENTS_FILE, Coefficients, dump_coefficients, load_coefficients
from harness.memory.fit import fit, leave_one_out
from harness.memory.model import NF4_BYTES_PER_PARAM, resting_after_training_mib
from harness.memory.runs import Measured, Observation
from harness.memory.shape import model_shape
from harness.memory.team import describe_targets
from tests.tiny import ALL7, TINY

MIB = 2**20
# tiny llama by hand: embeddings 512 x 32 = 16,384; per layer q 32x32, k and v 32x16, o 32x32, gate/up 32x64,
# down 64x32, two norms of 32 = 9,280; two layers; final norm 32; untied lm_head 512 x 32 = 16,384
LLAMA = {"model_type": "llama", **TINY["llama"]["config"]}
LLAMA_PARAMS = 16_384 + 2 * 9_280 + 32 + 16_384
LLAMA_LINEAR = 2 * (1_024 + 512 + 512 + 1_024 + 3 * 2_048)  # nf4 packs these; not the lm_head
COEF = Coefficients(k_act=1.0, logits_transient_bytes=8.0, generate_logits_bytes=20.0, slack_train_per_logits_byte=0.0,
                    slack_generate_mib=0.0, context_mib={"NVIDIA H100 80GB HBM3": {"train": 700.0, "generate": 700.0}},
                    source="test", runs=["test"])  # fmt: skip


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))


def _term(pred: dict, phase: str, start: str) -> float:
    return sum(t.mib for t in pred[phase].terms if t.name.startswith(start))


# ---------------------------------------------------------------- arithmetic


def test_parameter_counts_by_hand() -> None:
    s = model_shape("llama", TINY["llama"]["config"], ALL7)
    assert s.params == LLAMA_PARAMS == 51_360
    assert s.quantisable_params == LLAMA_LINEAR
    assert s.other_params == LLAMA_PARAMS - LLAMA_LINEAR
    assert (s.num_layers, s.hidden, s.vocab) == (2, 32, 512)


def test_lora_params_for_given_targets() -> None:
    cfg = TINY["llama"]["config"]
    # q: r x (32 + 32), v: r x (32 + 16), per layer, two layers
    assert model_shape("llama", cfg, ["q_proj", "v_proj"]).lora_params(8) == 2 * 8 * (64 + 48)
    # all seven: q 64, k 48, v 48, o 64, gate 96, up 96, down 96 = 512 per rank and layer
    assert model_shape("llama", cfg, ALL7).lora_params(8) == 2 * 8 * 512
    assert model_shape("llama", cfg, ["all-linear"]).lora_params(8) == 2 * 8 * 512  # lm_head left out
    gpt = model_shape("gpt_neox", TINY["gpt_neox"]["config"], ["query_key_value"])
    assert gpt.lora_params(4) == 2 * 4 * (32 + 96)


def test_unknown_targets_is_a_user_error() -> None:
    with pytest.raises(UserError, match=r"match no nn\.Linear"):
        model_shape("llama", TINY["llama"]["config"], ["nope_proj"])


@pytest.mark.parametrize(("dtype", "nbytes"), [("bf16", 2), ("fp16", 2), ("fp32", 4)])
def test_weights_bytes_by_dtype(dtype: str, nbytes: int) -> None:
    pred = predict(LLAMA, Settings(dtype=dtype, targets=tuple(ALL7)), "H100", COEF)
    for phase in ("train", "generate"):
        assert _term(pred, phase, "weights") == pytest.approx(LLAMA_PARAMS * nbytes / MIB)


def test_lora_and_optimizer_bytes() -> None:
    lora = 2 * 16 * 512
    pred = predict(LLAMA, Settings(rank=16, dtype="bf16", targets=tuple(ALL7)), "H100", COEF)
    assert _term(pred, "train", "LoRA parameters") == pytest.approx(lora * 4 / MIB)  # fp32 adapters
    assert _term(pred, "train", "optimizer state") == pytest.approx(lora * 8 / MIB)  # AdamW: 2 x fp32
    assert _term(pred, "train", "autocast copies") == pytest.approx(lora * 2 / MIB)
    assert _term(pred, "generate", "optimizer state") == 0  # the trainer is gone
    eight_bit = predict(LLAMA, Settings(rank=16, optimizer="adamw_8bit", targets=tuple(ALL7)), "H100", COEF)
    assert _term(eight_bit, "train", "optimizer state") == pytest.approx(lora * 2 / MIB)
    fp32 = predict(LLAMA, Settings(rank=16, dtype="fp32", targets=tuple(ALL7)), "H100", COEF)
    assert _term(fp32, "train", "autocast copies") == 0  # no autocast in fp32


def test_nf4_bytes() -> None:
    assert pytest.approx(4.127, abs=1e-3) == NF4_BYTES_PER_PARAM * 8
    pred = predict(LLAMA, Settings(quant="nf4", dtype="bf16", targets=tuple(ALL7)), "H100", COEF)
    assert _term(pred, "train", "weights, nf4") == pytest.approx(LLAMA_LINEAR * (0.5 + 1 / 64 + 4 / 16384) / MIB)
    # prepare_model_for_kbit_training casts the rest to fp32
    assert _term(pred, "train", "weights kept in float") == pytest.approx((LLAMA_PARAMS - LLAMA_LINEAR) * 4 / MIB)
    assert _term(pred, "train", "nf4: one weight") == pytest.approx(2_048 * 2 / MIB)
    assert not pred["train"].calibrated and any("nf4" in n for n in pred["train"].notes)


def test_resting_figure_is_weights_lora_optimizer_and_workspaces() -> None:
    lora = 2 * 64 * 512
    parts = resting_after_training_mib(LLAMA, Settings(rank=64, dtype="fp16", targets=tuple(ALL7)), "T4")
    assert parts["weights"] == pytest.approx(LLAMA_PARAMS * 2 / MIB)
    assert parts["lora"] + parts["optimizer"] == pytest.approx(lora * 12 / MIB)
    assert parts["workspace"] == pytest.approx(2 * 8.125)  # two cuBLAS workspaces on a T4 (cc 7.5)
    assert GPUS["H100"].cublas_workspace_bytes() == 32 * MIB


def test_counted_activations_on_a_tiny_model() -> None:
    a16 = layer_activations("llama", TINY["llama"]["config"], ALL7, "autocast16")
    a32 = layer_activations("llama", TINY["llama"]["config"], ALL7, "fp32")
    # counted from saved tensors, then divided: compare with a tolerance (the last bit differs across CPUs,
    # e.g. 4.000000000000001 on an AVX-512 EPYC)
    assert a16.kv_per_token_layer == pytest.approx(2 * 2 * 8 * 2)  # K and V, 2 kv heads x 8 dims, bf16
    assert a32.kv_per_token_layer == pytest.approx(2 * 2 * 8 * 4)
    assert a16.logits_saved_per_token_vocab == pytest.approx(4)  # the fp32 log-softmax
    assert 0 < a16.per_token_layer < a32.per_token_layer
    # a bool dropout mask per element of every target's input: q,k,v,o,gate,up take 32, down 64
    assert a16.per_token_layer_at(16, 0.05) - a16.per_token_layer_at(16, 0.0) == pytest.approx(6 * 32 + 64)
    assert a16.per_token_layer_at(32, 0.0) - a16.per_token_layer_at(16, 0.0) == pytest.approx(16 * 7 * 2)


def test_activations_scale_with_tokens_and_checkpointing_saves() -> None:
    s = Settings(batch=2, seq_len=32, targets=tuple(ALL7))
    base = _term(predict(LLAMA, s, "H100", COEF), "train", "activations")
    assert _term(predict(LLAMA, s.with_(batch=4), "H100", COEF), "train", "activations") == pytest.approx(2 * base)
    gc = _term(predict(LLAMA, s.with_(gradient_checkpointing=True), "H100", COEF), "train", "activations")
    assert 0 < gc < base
    liger = predict(LLAMA, s.with_(backend="liger"), "H100", COEF)
    assert _term(liger, "train", "loss") == 0


# ---------------------------------------------------------------- verdicts


def test_capability_limits() -> None:
    s = Settings(targets=tuple(ALL7))
    for backend in ("unsloth", "liger"):
        v = fits_on(predict(LLAMA, s.with_(backend=backend, dtype="fp32"), "M6000", COEF), "M6000")
        assert not v.capability_ok and not v.fits and "7.0" in v.reason
    v = fits_on(predict(LLAMA, s.with_(dtype="bf16"), "T4", COEF), "T4")
    assert not v.capability_ok and "bf16" in v.reason
    assert fits_on(predict(LLAMA, s.with_(quant="nf4", dtype="fp16"), "T4", COEF), "T4").capability_ok
    ok = fits_on(predict(LLAMA, s.with_(dtype="fp16"), "T4", COEF), "T4")
    assert ok.fits and ok.capability_ok and ok.dtype == "fp16"
    with pytest.raises(ValueError, match="made for"):
        fits_on(predict(LLAMA, s.with_(dtype="fp16"), "T4", COEF), "H100")


@pytest.mark.parametrize(("version", "runs"), [("0.50.2", False), (None, False), ("0.47.0", True)])
def test_nf4_on_the_maxwell_gpu_follows_the_bitsandbytes_version(monkeypatch, version, runs) -> None:
    """bitsandbytes' PyPI wheels carry no Maxwell kernels from 0.48.0; none installed: the pinned 0.50.2."""
    from harness.memory import verdict

    monkeypatch.setattr(verdict, "bnb_version", lambda: version)
    v = fits_on(predict(LLAMA, Settings(targets=tuple(ALL7), quant="nf4", dtype="fp32"), "M6000", COEF), "M6000")
    assert v.capability_ok is runs
    if not runs:
        assert "nf4 (bitsandbytes) needs compute capability 6.0 or higher; Quadro M6000 has 5.2" in v.reason


def test_fit_table_uses_each_gpus_dtypes() -> None:
    rows = fit_table(LLAMA, Settings(targets=tuple(ALL7)), coefficients=COEF)
    # the first dtype of each GPU is what dtype auto trains in there (harness.dtypes): fp16 below 8.0
    assert [(r.gpu, r.dtype) for r in rows] == [("Quadro M6000", "fp16"), ("Quadro M6000", "fp32"),
                                                ("Tesla T4", "fp16"), ("NVIDIA H100 80GB HBM3", "bf16")]  # fmt: skip
    assert all(g.dtypes[0] == g.auto_dtype for g in GPUS.values())


def test_largest_batch_is_the_edge() -> None:
    coef = replace(COEF, context_mib={"Tesla T4": {"train": 15_000.0, "generate": 0.0}})
    s = Settings(seq_len=256, dtype="fp16", targets=tuple(ALL7))
    n = largest(LLAMA, s, "T4", "batch", coef)
    assert n is not None
    assert fits_on(predict(LLAMA, s.with_(batch=n), "T4", coef), "T4").fits
    assert not fits_on(predict(LLAMA, s.with_(batch=n + 1), "T4", coef), "T4").fits


# ---------------------------------------------------------------- fit and leave one out (synthetic runs)


def _synthetic(truth: Coefficients) -> list[Observation]:
    out = []
    for fam in ("llama", "gemma", "gpt_neox", "qwen2"):
        cfg = {"model_type": TINY[fam]["model_type"], **TINY[fam]["config"]}
        for rank in (8, 16):
            s = Settings(rank=rank, batch=4, seq_len=20 + 4 * rank, targets=tuple(TINY[fam]["targets"]), gen_batch=3,
                         prompt_len=10, new_tokens=8)  # fmt: skip
            pred = predict(cfg, s, "H100", truth)
            phases = {p: Measured(pred[p].torch_allocated_mib, pred[p].torch_allocated_mib + (5.0 if p == "train" else 1.0),
                                  pred[p].nvml_process_mib) for p in ("train", "generate")}  # fmt: skip
            out.append(Observation(path=f"{fam}-{rank}.json", key=f"{fam}{rank}", candidate=f"tiny-{fam}", family=fam,
                                   config=cfg, settings=s, gpu="NVIDIA H100 80GB HBM3", phases=phases,
                                   allocator_warm=False, tokens_note=""))  # fmt: skip
    return out


def test_fit_recovers_known_coefficients_and_loo_is_exact() -> None:
    truth = replace(COEF, k_act=1.3, logits_transient_bytes=6.0, generate_logits_bytes=30.0)
    obs = _synthetic(truth)
    got = fit(obs, source="synthetic")
    assert got.k_act == pytest.approx(1.3, rel=1e-6)
    assert got.logits_transient_bytes == pytest.approx(6.0, rel=1e-6)
    assert got.generate_logits_bytes == pytest.approx(30.0, rel=1e-6)
    assert got.runs == [f"{o.path}: {o.key}" for o in obs]
    rows = leave_one_out(obs, lambda o: o.candidate)
    assert len(rows) == 2 * len(obs) and {r.fitted_on for r in rows} == {6}
    assert max(abs(r.alloc_err) for r in rows) < 1e-6


def test_fit_on_noisy_runs_shows_the_error() -> None:
    obs = _synthetic(replace(COEF, k_act=1.3))
    bumped = obs[0].phases["train"]
    obs[0] = replace(
        obs[0], phases={**obs[0].phases, "train": replace(bumped, allocated_mib=bumped.allocated_mib * 1.2)}
    )
    rows = leave_one_out(obs, lambda o: o.candidate)
    worst = max(rows, key=lambda r: abs(r.alloc_err))
    assert worst.run == obs[0].label and worst.phase == "train" and worst.alloc_err < -0.1


def test_describe_targets() -> None:
    own = ("a.k", "a.v", "b.k")
    assert describe_targets(own, [("a.v", "b.k")], "rwkv") == "ours without a.k"
    assert "one of a.k, a.v" in describe_targets(own, [("a.v", "b.k"), ("a.k", "b.k")], "rwkv")
    assert "peft's default" in describe_targets(("query_key_value", "dense"), [("query_key_value",)], "gpt_neox")


# ---------------------------------------------------------------- the published coefficients


def test_published_coefficients_load_and_name_their_source() -> None:
    coef = load_coefficients(COEFFICIENTS_FILE)
    assert coef.source and "harness.memory.fit" in coef.source
    assert coef.runs and all(r.split(":")[0].endswith(".json") for r in coef.runs)
    for run in coef.runs:
        assert (Path(__file__).resolve().parents[1] / run.split(":")[0]).is_file(), run
    assert 0.5 < coef.k_act < 2 and coef.context_mib
    assert dump_coefficients(coef).startswith("# Fitted coefficients")


def test_broken_coefficients_file_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("k_act: 1\n")
    with pytest.raises(UserError, match=r"c\.yaml"):
        load_coefficients(bad)


# ---------------------------------------------------------------- the fits command


def _tiny_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "tiny-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(LLAMA))
    return folder


def test_fits_command_prints_phases_gpus_and_largest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["fits", "--model", str(_tiny_folder(tmp_path)), "--rank", "8", "--batch", "4", "--max-length", "64",
               "--gpu", "T4"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "train" in out and "generate" in out and "Tesla T4 (fp16" in out
    for name in ("Quadro M6000", "Tesla T4", "NVIDIA H100 80GB HBM3"):
        assert name in out
    assert "largest that fits on Tesla T4 (fp16): batch" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--gpu", "A100"], "--gpu 'A100'"), (["--batch", "0"], "batch"), (["--dtype", "fp8"], "dtype"),
     (["--gradient-checkpointing", "maybe"], "gradient-checkpointing")],
)  # fmt: skip
def test_fits_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    rc = main(["fits", "--model", str(_tiny_folder(tmp_path)), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:") and needle in err


def test_fits_unknown_model_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fits", "--model", "no-such/model-xyz"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no-such/model-xyz" in err


@pytest.mark.slow
def test_fits_command_on_a_candidate(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's example: counts a full-width gemma-2 layer pair on the CPU (cached afterwards)."""
    rc = main(
        ["fits", "--model", "gemma-2-2b-it", "--rank", "64", "--batch", "4", "--max-length", "256", "--gpu", "T4"]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "83,066,880 parameters" in out and "Tesla T4" in out


def _published_llama_run() -> dict:
    """A published llama1B r16 run with batched answers (shape-mode runs at measurement 4 have none)."""
    for path in sorted((Path(__file__).resolve().parents[1] / "reports").glob("*/runs/llama1B-r16-*.json")):
        run = json.loads(path.read_text())
        if run["status"] == "ok" and "generate_tuned" in run["phases"]:
            return run
    raise AssertionError("no published llama1B r16 run with batched answers")


def test_settings_and_measured_peak_from_a_published_run() -> None:
    from harness.memory.runs import config_from_run, measured_peak, settings_from_run

    run = _published_llama_run()
    s = settings_from_run(run)
    assert (s.rank, s.batch, s.dtype, s.seq_len) == (16, 4, "bf16", 256)  # no token lengths given: max_length
    assert settings_from_run(run, seq_len=45).seq_len == 45
    assert config_from_run(run)["model_type"] == "llama"
    peak = measured_peak(run)
    phases = run["phases"]
    assert peak == {("NVIDIA H100 80GB HBM3", "bf16"): max(phases["train"]["nvml_process_peak_mib"],
                                                           phases["generate_tuned"]["nvml_process_peak_mib"])}  # fmt: skip


@pytest.mark.slow
def test_fit_table_shows_the_measured_peak_beside_the_prediction() -> None:
    """What the report's "fits on" section calls; counts llama1B's full-width layers on the CPU."""
    from harness.memory.runs import config_from_run, measured_peak, settings_from_run

    run = _published_llama_run()
    peak = measured_peak(run)
    rows = fit_table(config_from_run(run), settings_from_run(run, seq_len=45, prompt_len=22), measured=peak)
    h100 = next(r for r in rows if r.gpu == "NVIDIA H100 80GB HBM3")
    assert h100.measured_mib == peak[("NVIDIA H100 80GB HBM3", "bf16")] and h100.calibrated and h100.fits
    assert abs(h100.predicted_mib - h100.measured_mib) / h100.measured_mib < 0.05
