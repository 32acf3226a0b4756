"""The run child, in-process: every architecture family trains 2 LoRA steps and answers, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.child import env as env_mod
from harness.child import run as run_mod
from harness.result import RunResult
from tests.tiny import TINY, tiny_request


def _execute(tmp_path: Path, req, key: str = "k") -> RunResult:
    out = tmp_path / "result.json"
    r = run_mod.RunChild(req, key, out)
    r.execute()
    return RunResult.read(out)


@pytest.mark.parametrize("family", sorted(TINY))
def test_every_family_trains_and_answers(family: str, tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = _execute(tmp_path, tiny_request(family))
    assert res.status == "ok", res.reason
    eff = res.effective
    assert eff is not None
    assert eff.global_steps == 2 and eff.effective_batch == 4 and eff.grad_accum == 1
    assert eff.gradient_checkpointing is False and eff.dtype == "fp32"
    assert eff.attention and (eff.attention.startswith("rwkv pytorch loop") if family == "rwkv" else True)
    assert 0 < res.one_time["before_load_s"] < res.wall_s  # the child's start-up, apart from the phases
    parts = (
        "imports_checks",
        "cuda",
        "libraries",
        "environment",
        "monitor",
        "data",
        "weights",
        "baseline",
    )  # its parts, in order
    assert sum(res.one_time[f"start_{p}_s"] for p in parts) == pytest.approx(res.one_time["before_load_s"], abs=0.01)
    tuned = next(g for g in res.generation if g.stage == "tuned")
    assert len(tuned.latency_answer_s) == tuned.latency_prompts > 0  # each timed answer, in order
    assert sum(tuned.latency_answer_s) == pytest.approx(tuned.latency_s_per_answer * tuned.latency_prompts, rel=1e-3)
    assert eff.trainable_params and eff.trainable_params < eff.total_params
    assert res.steps is not None and len(res.steps.times_s) == 2 and res.steps.burn_in_steps == 1
    assert res.steps.shapes is not None and len(res.steps.shapes) == 2  # each step's token shape, batch 4
    assert all(s.startswith("4x") and "+" not in s for s in res.steps.shapes), res.steps.shapes
    # shape mode: random weights have no quality, so no batched answers and no likelihood pass; the
    # one-at-a-time latency stage (the team's measurement) is kept
    assert list(res.phases) == ["load", "latency_base", "lora", "train_setup", "train", "latency_tuned", "score"]
    # a CPU machine: GPU fields are null, never 0
    for ph in res.phases.values():
        assert ph.nvml_device_used_peak_mib is None and ph.torch_max_reserved_mib is None
        assert ph.host_rss_peak_mib and ph.host_rss_peak_mib > 0
    assert res.answers == []
    assert [(g.stage, g.batch_size, g.prompts, g.latency_prompts) for g in res.generation] == [
        ("base", 1, 1, 1),
        ("tuned", 1, 1, 1),
    ]
    assert all(1 <= g.new_tokens <= 6 and g.latency_s_per_answer for g in res.generation)
    assert res.quality.meaningful is False and res.quality.tuned == {}  # shape mode: random weights
    assert res.weights is not None and res.weights.mode == "shape" and "BPE" in res.weights.tokenizer
    assert res.environment is not None and res.environment.device == "cpu"
    assert res.environment.packages["trl"] == "1.14.2"
    assert res.environment.boot_id == env_mod.boot_id()  # the machine boot it ran in


def test_effective_settings_read_back_and_loss_curve(tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    req = tiny_request("llama", train={"max_steps": None, "epochs": 2, "batch_size": 2, "grad_accum": 2})
    res = _execute(tmp_path, req)
    assert res.status == "ok", res.reason
    # 8 rows / batch 2 = 4 micro-batches = 2 optimizer steps an epoch, x 2 epochs
    assert res.effective.global_steps == 4 and res.effective.effective_batch == 4
    assert [s for s, _ in res.loss_curve] == [1, 2, 3, 4]


def test_forced_tokens_make_every_answer_full_length(tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    req = tiny_request("qwen2", generation={"force_new_tokens": True, "max_new_tokens": 5, "base_answers": False})
    res = _execute(tmp_path, req)
    assert res.status == "ok", res.reason
    assert [(g.stage, g.forced_new_tokens, g.prompts, g.new_tokens) for g in res.generation] == [("tuned", True, 1, 5)]


def test_injected_oom_becomes_an_oom_result(tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "oom@step:1")
    req_path = tmp_path / "req.json"
    req_path.write_text(tiny_request("llama").model_dump_json())
    assert run_mod.main(["--request", str(req_path), "--result", str(tmp_path / "r.json"), "--key", "x"]) == 0
    res = RunResult.read(tmp_path / "r.json")
    assert res.status == "oom"
    assert "phase train" in res.reason and "out of memory" in res.reason
    assert "load" in res.phases and "train" in res.phases  # what was measured before the failure is kept


def test_bad_request_file_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    p = tmp_path / "req.json"
    p.write_text(json.dumps({"candidate": "nope"}))
    assert run_mod.main(["--request", str(p), "--result", str(tmp_path / "r.json"), "--key", "x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a valid run request" in err
    assert not (tmp_path / "r.json").exists()


def test_unsupported_is_recorded_before_anything_loads(tmp_path: Path) -> None:
    req = tiny_request("llama", backend="unsloth")
    res = _execute(tmp_path, req)
    assert res.status == "unsupported"
    assert "CUDA GPU" in res.reason
    assert res.phases == {}


def test_a_failure_with_an_empty_message_names_where_it_was_raised() -> None:
    """Unsloth's default compile on the H200: `InductorError: AssertionError: ` and nothing else."""
    from harness.child.run import failure_reason

    def inner() -> None:
        raise AssertionError  # a bare assert, as in torch._inductor.pattern_matcher

    class InductorError(RuntimeError):
        pass

    try:
        try:
            inner()
        except AssertionError as a:
            raise InductorError(f"AssertionError: {a}").with_traceback(a.__traceback__) from None
    except InductorError as e:
        reason = failure_reason(e, "train")
    assert reason.startswith("InductorError in phase train: AssertionError (raised at ")
    assert "test_run.py:" in reason and reason.endswith(" in inner)")
    assert failure_reason(ValueError("bad row 3"), "load") == "ValueError in phase load: bad row 3"


def test_two_runs_of_one_request_train_alike(tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    """The adapter's initial weights are seeded with the request's seed: two runs of one request follow the same
    loss curve (before, LoRA A was drawn from an unseeded generator: the first loss agreed, the rest did not)."""
    monkeypatch.chdir(tmp_path)
    curves = []
    for i in range(2):
        (tmp_path / str(i)).mkdir()
        res = _execute(tmp_path / str(i), tiny_request("llama"))
        assert res.status == "ok", res.reason
        curves.append([loss for _, loss in res.loss_curve])
    assert len(curves[0]) == 2
    assert curves[0] == pytest.approx(curves[1], rel=1e-12, abs=0)  # one process, one machine: the same numbers
