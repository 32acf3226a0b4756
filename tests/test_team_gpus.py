"""The team's own GPUs (a T4, a Quadro M6000) as they really run: the dtype rule, the torch build's arch list,
emulation on a bigger GPU, and the one fits verdict (CPU only: device properties and arch lists are mocked)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness.backends import capability, common
from harness.config import EmulatedGpu
from harness.dtypes import dtype_problem, train_dtype
from harness.errors import UserError
from harness.keys import result_stem
from harness.report.analysis import analyse
from harness.report.load import load_results
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable
from harness.result import RunResult
from harness.torch_arch import arch_problem, build_runs_on
from tests.report_fixtures import GEMMA, make_run, write_results
from tests.tiny import tiny_request

PRICES = PriceTable.load(DEFAULT_PRICES_FILE, required=True)
T4 = EmulatedGpu.model_validate(PRICES.emulated_gpu("T4"))
M6000 = EmulatedGpu.model_validate(PRICES.emulated_gpu("m6000"))
CU130 = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]  # torch 2.11.0+cu130, read on the H200
CU126 = ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"]  # PyTorch's 12.6 builds


# ---------------------------------------------------------------- 1. the dtype rule


@pytest.mark.parametrize(
    ("cc", "want"),
    [((5, 2), "fp16"), ((7, 5), "fp16"), ((7, 0), "fp16"), ((8, 0), "bf16"), ((8, 9), "bf16"), ((9, 0), "bf16")],
)
def test_auto_is_bf16_only_where_native(cc: tuple[int, int], want: str) -> None:
    assert train_dtype("auto", cc) == want
    assert train_dtype("fp32", cc) == "fp32" and train_dtype("fp16", cc) == "fp16"  # the user's, when given
    assert train_dtype("auto", None, "cpu") == "fp32"


def test_bf16_is_refused_where_it_would_be_emulated() -> None:
    assert dtype_problem("bf16", (9, 0)) is None and dtype_problem("fp16", (5, 2)) is None
    reason = dtype_problem("bf16", (7, 5), "Tesla T4")
    assert reason is not None and "not native on Tesla T4" in reason and "fp16" in reason


def test_resolve_dtype_ignores_torchs_emulated_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch 2.11-2.13's is_bf16_supported() says True on a T4 (emulation): the rule must not ask it."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    assert common.resolve_dtype(tiny_request("llama", device="auto"), "cuda") == torch.float16
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (9, 0))
    assert common.resolve_dtype(tiny_request("llama", device="auto"), "cuda") == torch.bfloat16
    emulated = tiny_request("llama", device="auto").model_copy(update={"emulate": M6000})
    assert common.resolve_dtype(emulated, "cuda") == torch.float16  # the emulated GPU's capability, not the H200's
    assert common.resolve_dtype(tiny_request("llama", device="auto"), "cpu") == torch.float32


# ---------------------------------------------------------------- 2. the torch build's kernels


def test_arch_check_refuses_an_m6000_under_a_build_without_maxwell() -> None:
    reason = arch_problem((5, 2), CU130, "2.11.0+cu130", "Quadro M6000")
    assert reason is not None and len(reason.splitlines()) == 1
    assert "no kernels for Quadro M6000 (compute capability 5.2" in reason
    assert "pip install torch==2.11.0 --index-url https://download.pytorch.org/whl/cu126" in reason
    assert arch_problem((5, 2), CU126, "2.11.0+cu126") is None  # sm_50 code runs on 5.2 (same major)
    assert arch_problem((7, 5), CU130, "2.11.0+cu130") is None  # the T4
    assert arch_problem((9, 0), CU130, "2.11.0+cu130") is None
    assert build_runs_on((8, 9), ["sm_80", "sm_86"])  # Ada runs Ampere's sm_86 code
    assert not build_runs_on((9, 0), ["sm_90a"])  # family-specific code is no general match
    assert build_runs_on((12, 1), ["sm_90", "compute_120"])  # PTX at or below the device compiles at start
    assert arch_problem((5, 2), [], "2.13.0+cpu") is None  # a CPU build says nothing of GPUs


def test_the_run_child_marks_a_gpu_its_build_cannot_run(tmp_path: Path) -> None:
    from harness.child.run import RunChild

    child = RunChild(tiny_request("llama", device="auto"), "k", tmp_path / "r.json")
    fake = _fake_torch((5, 2), CU130, total_mib=12288)
    reason = child.gpu_support(fake)
    assert reason is not None and "cu126" in reason
    child = RunChild(tiny_request("llama", device="auto"), "k", tmp_path / "r.json")
    assert child.gpu_support(_fake_torch((9, 0), CU130, total_mib=143771)) is None


# ---------------------------------------------------------------- 4. emulation


def _fake_torch(cc: tuple[int, int], arch: list[str], total_mib: float) -> Any:
    calls: list[tuple[float, int]] = []
    cuda = SimpleNamespace(
        get_device_capability=lambda *a: cc,
        get_arch_list=lambda: arch,
        get_device_name=lambda *a: "NVIDIA H200" if cc == (9, 0) else "Quadro M6000",
        get_device_properties=lambda *a: SimpleNamespace(total_memory=int(total_mib * 2**20)),
        set_per_process_memory_fraction=lambda f, d=0: calls.append((f, d)),
    )
    return SimpleNamespace(cuda=cuda, __version__="2.11.0+cu130", calls=calls)


def test_emulation_caps_the_allocator_at_the_gpu_less_its_context(tmp_path: Path) -> None:
    from harness.child import emulation
    from harness.memory.coefficients import load_coefficients

    fake = _fake_torch((9, 0), CU130, total_mib=143771)
    req = tiny_request("llama", device="auto").model_copy(update={"emulate": T4})
    rec = emulation.apply(req, fake)
    context, measured = load_coefficients().context_for("T4", "train")
    assert rec is not None and rec.gpu == "T4" and rec.compute_capability == "7.5"
    assert rec.memory_mib == pytest.approx(15 * 1024) and rec.context_mib == pytest.approx(context)
    assert rec.cap_mib == pytest.approx(15 * 1024 - context)
    assert fake.calls == [(pytest.approx(rec.cap_mib / 143771), 0)]
    assert not measured and "not measured on it" in rec.context_source
    assert any("time is this GPU's" in n for n in rec.notes)
    m = emulation.apply(req.model_copy(update={"emulate": M6000}), _fake_torch((9, 0), CU130, 143771))
    assert m is not None and any("cu126" in n for n in m.notes)  # the build lacks Maxwell: said, not refused
    assert emulation.apply(tiny_request("llama"), fake) is None
    with pytest.raises(UserError, match=r"emulate a GPU smaller"):
        emulation.apply(req, _fake_torch((8, 0), CU130, total_mib=8000))


@pytest.mark.parametrize(
    ("over", "gpu", "expect"),
    [
        ({"backend": "unsloth"}, M6000, "unsloth needs compute capability >= 7.0; Quadro M6000 has 5.2"),
        ({"backend": "liger"}, M6000, "liger needs compute capability >= 7.0"),
        ({"train": {"dtype": "bf16"}}, T4, "bf16 is not native on T4"),
        ({"train": {"dtype": "bf16"}}, M6000, "bf16 is not native on Quadro M6000"),
        ({}, T4, None),
        ({"train": {"dtype": "fp32"}}, M6000, None),
        ({"backend": "unsloth"}, T4, None),
    ],
)
def test_emulated_gpu_lacks_what_the_real_one_lacks(over: dict, gpu: EmulatedGpu, expect: str | None) -> None:
    h200 = ("NVIDIA H200", (9, 0))
    req = tiny_request("llama", device="auto", **over).model_copy(update={"emulate": gpu})
    reason = capability.check(req, h200)
    if expect is None:
        assert reason is None or "not installed" in reason  # unsloth itself is absent on this machine
    else:
        assert reason is not None and expect in reason
    assert "needs a CUDA GPU" in (capability.check(req, None) or "")


def test_nf4_under_an_emulated_m6000_follows_bitsandbytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.backends import base

    monkeypatch.setattr(capability, "installed", lambda m: True)
    monkeypatch.setattr(capability, "bnb_version", lambda: "0.50.2")
    req = tiny_request("llama", device="auto", quant="nf4").model_copy(update={"emulate": M6000})
    reason = capability.check(req, ("NVIDIA H200", (9, 0)))
    assert reason is not None and "Quadro M6000 has 5.2" in reason and "bitsandbytes<0.48" in reason
    assert base.bnb_min_capability("0.47.0") == (5, 0)


def test_emulate_axis_keys_stems_and_unknown_names() -> None:
    from harness.config import SweepSpec, expand_sweep, load_candidates

    spec = SweepSpec.model_validate(
        {
            "name": "t",
            "axes": {"candidates": ["gemma-2-2b-it"], "ranks": [16], "emulate": ["T4", "M6000"]},
            "weights": "shape",
        }
    )
    reqs = expand_sweep(spec, load_candidates(), "spec", PRICES.emulated_gpu)
    assert [r.emulate.name for r in reqs] == ["T4", "Quadro M6000"]  # type: ignore[union-attr]
    assert result_stem(reqs[0], "a" * 64).startswith("gemma-2-2b-it-r16-hf-none-as-T4-")
    assert "(as Quadro M6000)" in reqs[1].label
    plain = expand_sweep(spec.model_copy(update={"axes": spec.axes.model_copy(update={"emulate": []})}),
                         load_candidates())  # fmt: skip
    assert "emulate" not in plain[0].key_fields()  # runs made before the field keep their keys
    assert "emulate" in reqs[0].key_fields()
    with pytest.raises(UserError, match="not in the fits GPU table"):
        PRICES.emulated_gpu("V100")
    assert [r.key_fields() for r in expand_sweep(spec, load_candidates())] == [r.key_fields() for r in reqs]


# ---------------------------------------------------------------- 3. one fits verdict


def _emulated(run: RunResult, gpu: EmulatedGpu, *, dtype: str = "fp16") -> RunResult:
    run.request = run.request.model_copy(update={"emulate": gpu})
    run.key = run.key[:-3] + gpu.name[:3]
    run.label += f" (as {gpu.name})"
    if run.effective is not None:
        run.effective.dtype = dtype
    return run


def test_fits_comes_from_the_dtype_each_gpu_trains_in(tmp_path: Path) -> None:
    """An H100 bf16 peak says nothing of a T4 or an M6000 (fp16 there); an emulated run of the same request
    does; a backend without kernels there is a no whatever the memory."""
    runs = [
        make_run(GEMMA, 16, mem_mib=9000.0),
        _emulated(make_run(GEMMA, 16, mem_mib=9000.0, seed=3), T4),
        _emulated(make_run(GEMMA, 16, status="oom", reason="out of memory in phase train: CUDA", seed=4), M6000),
        make_run(GEMMA, 64, mem_mib=9500.0, backend="unsloth"),
    ]
    a = analyse(load_results(write_results(tmp_path / "f", runs)), PRICES)
    plain = next(c for c in a.cells if c.backend == "hf" and c.first.request.emulate is None)
    v = plain.fit.gpus  # type: ignore[union-attr]
    assert (v["T4"].fits, v["T4"].dtype, v["T4"].basis) == (True, "fp16", "emulated")
    assert (v["Quadro M6000"].fits, v["Quadro M6000"].basis) == (False, "emulated")
    assert "out of memory in phase train" in v["Quadro M6000"].why
    assert (v["H100 80GB"].fits, v["H100 80GB"].dtype, v["H100 80GB"].basis) == (True, "bf16", "measured")
    fast = next(c for c in a.cells if c.backend == "unsloth")
    u = fast.fit.gpus  # type: ignore[union-attr]
    assert u["Quadro M6000"].basis == "capability" and u["Quadro M6000"].fits is False
    assert (
        u["T4"].fits is None and u["T4"].why == "unknown in fp16: measured only in bf16"
    )  # measured in bf16 only: unknown, said so
    # the emulated runs are evidence, not contenders: the ranking holds the two configurations only
    assert len(a.decision.rows) == 2


def test_fits_phrase_names_the_dtype_and_the_unknown(tmp_path: Path) -> None:
    from harness.report.analysis.memory import fits_phrase

    runs = [make_run(GEMMA, 16, mem_mib=9000.0), _emulated(make_run(GEMMA, 16, mem_mib=9000.0, seed=3), T4)]
    a = analyse(load_results(write_results(tmp_path / "f", runs)), PRICES)
    cell = next(c for c in a.cells if c.first.request.emulate is None)
    text = fits_phrase(cell.fit, PRICES)  # type: ignore[arg-type]
    assert (
        text is not None
        and text.startswith("fits the T4 (in fp16, an emulated run)")
        and "unknown on the Quadro M6000" in text
    )


def test_fits_command_sizes_the_m6000_in_fp16(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["fits", "--model", "gemma-2-2b-it", "--rank", "64", "--gpu", "M6000"]) == 0
    out = capsys.readouterr().out
    assert "predicted peaks on Quadro M6000 (fp16" in out


# ---------------------------------------------------------------- fp16's failure mode: a loss that is inf/NaN


def test_a_run_whose_loss_becomes_nan_ends_diverged(
    tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A learning rate far too high drives the tiny model's loss to inf/NaN (what fp16 overflow does on a T4):
    the run ends `diverged` at that step, with what it measured, not `ok` with a meaningless curve."""
    from harness.child import run as run_mod

    monkeypatch.chdir(tmp_path)
    req = tiny_request("llama", train={"learning_rate": 1e12, "max_steps": 6, "burn_in_steps": 1})
    out = tmp_path / "result.json"
    run_mod.RunChild(req, "k", out).execute()
    res = RunResult.read(out)
    assert res.status == "diverged", (res.status, res.reason, res.loss_curve)
    assert res.reason is not None and "loss became" in res.reason and "at step" in res.reason
    step = int(res.reason.split("at step ")[1].split(";")[0])
    assert 1 <= step < 6 and res.effective is not None and res.effective.global_steps == step
    assert not res.answers  # no answers from a diverged model


def test_divergence_guard_ignores_finite_losses() -> None:
    from harness.child.train import DivergenceGuard

    guard, control, state = DivergenceGuard(), SimpleNamespace(should_training_stop=False), SimpleNamespace()
    for step, loss in ((1, 2.5), (2, 1.9), (3, float("inf")), (4, float("nan"))):
        state.global_step = step
        guard.on_log(None, state, control, logs={"loss": loss})
    assert guard.step == 3 and control.should_training_stop and guard.reason and "inf at step 3" in guard.reason


def test_a_folder_of_emulated_runs_answers_what_fits(tmp_path: Path) -> None:
    """Emulated runs' times are the measuring GPU's: such a folder says what fits each GPU, and never ranks by
    time or sets emulated time beside the team's T4 figures."""
    from harness.report import build_report

    runs = [
        _emulated(make_run(GEMMA, 16, mem_mib=9000.0, seed=3), T4),
        _emulated(make_run(GEMMA, 16, status="oom", reason="out of memory in phase train: CUDA", seed=4), M6000),
    ]
    files = build_report(write_results(tmp_path / "f", runs))
    assert "this folder says what fits, not what to choose" in files.answer
    assert "On the T4 in fp16, 1 of 1 configurations fit." in files.answer
    assert "On the Quadro M6000 in fp16, 0 of 1 configurations fit; not gemma-2-2b-it r16." in files.answer
    html = files.html.read_text(encoding="utf-8")
    assert "Emulated runs: memory capped at the GPU" in html
    assert 'id="published"' not in html or "(as T4)" not in html.split('id="published"')[1].split("</section>")[0]
