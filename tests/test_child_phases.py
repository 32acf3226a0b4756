"""The run child's phases as written: partial results after each phase, kept by the parent when the child dies,
times out or is cancelled; shape mode's stages; real mode's stages; merges; injected faults marked; the shape
build's memory kept out of the load phase."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness import data as data_mod
from harness import weights
from harness.backends.hf import HF
from harness.child import run as run_mod
from harness.config import CandidateFile, SweepSpec, expand_sweep
from harness.result import RunResult
from harness.sweep import SweepOptions, run_sweep
from harness.sweep.child import ChildProcess, child_command, child_env
from harness.sweep.outcome import PlannedRun, result_from_child
from tests.tiny import tiny_candidate, tiny_request

PY = sys.executable
ALL_REAL = ["load", "generate_base", "latency_base", "eval_base", "lora", "train_setup", "train",
            "generate_tuned", "latency_tuned", "eval_tuned", "score"]  # fmt: skip


def _execute(tmp_path: Path, req: Any) -> RunResult:
    out = tmp_path / "result.json"
    run_mod.RunChild(req, "k", out).execute()
    return RunResult.read(out)


@pytest.fixture
def real_dir(shape_cache: Path) -> Path:
    """A tiny model saved with save_pretrained (weights + tokenizer), used as if it were real weights."""
    req = tiny_request("llama")
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    return w.model_dir


def _real(real_dir: Path, **gen: Any) -> Any:
    g = {"batch_size": 2, "latency_prompts": 1, "force_new_tokens": True, **gen}
    return tiny_request("llama", weights="real", weights_path=str(real_dir), generation=g)


# ---------------------------------------------------------------- what each mode runs


def test_real_weights_answer_in_batches_time_latency_apart_and_never_force(
    tmp_path: Path, real_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = _execute(tmp_path, _real(real_dir, merge_adapter=True))
    assert res.status == "ok", res.reason
    assert list(res.phases) == ALL_REAL
    gens = {g.stage: g for g in res.generation}
    assert all(not g.forced_new_tokens and g.batch_size == 2 and g.prompts == 4 for g in gens.values())
    assert all(g.latency_prompts == 1 and g.latency_s_per_answer for g in gens.values())
    assert sum(a.stage == "tuned" for a in res.answers) == 4
    assert res.quality.meaningful is True and res.quality.tuned["bits_per_char"].n == 3
    assert {"generate_base_burn_in_s", "latency_base_burn_in_s", "latency_tuned_burn_in_s"} <= set(res.one_time)
    assert gens["tuned"].merged_adapter is True and not gens["base"].merged_adapter  # the hf backend merged
    assert "merge_adapter_s" in res.one_time


def test_no_merge_is_recorded_where_the_backend_does_not_merge(
    tmp_path: Path, real_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(HF, "can_merge", False)  # as Unsloth: asked to merge, it does not
    res = _execute(tmp_path, _real(real_dir, merge_adapter=True, base_answers=False))
    assert res.status == "ok", res.reason
    assert [g.merged_adapter for g in res.generation] == [False] and "merge_adapter_s" not in res.one_time


def test_shape_mode_runs_no_scoring_pass_and_no_batched_answers(
    tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = _execute(tmp_path, tiny_request("llama", generation={"batch_size": 4, "latency_prompts": 2}))
    assert res.status == "ok", res.reason
    assert list(res.phases) == ["load", "latency_base", "lora", "train_setup", "train", "latency_tuned", "score"]
    assert res.answers == [] and res.quality.meaningful is False
    assert [(g.stage, g.batch_size, g.prompts) for g in res.generation] == [("base", 1, 2), ("tuned", 1, 2)]


# ---------------------------------------------------------------- partial results


def test_the_child_writes_each_finished_phase_as_it_goes(
    tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    seen: list[tuple[bool, list[str], str]] = []
    real_write = RunResult.write

    def spy(self: RunResult, path: Path) -> None:
        real_write(self, path)
        back = RunResult.read(path)  # what a parent would read at this moment
        seen.append((back.partial, list(back.phases), back.status))

    monkeypatch.setattr(RunResult, "write", spy)
    _execute(tmp_path, tiny_request("llama"))
    partials = [(phases, status) for partial, phases, status in seen if partial]
    order = ["load", "latency_base", "lora", "train_setup", "train", "latency_tuned", "score"]
    assert [p[-1] for p, _ in partials] == order  # one write as each phase ends, that phase in it
    assert all(status == "failed" for _, status in partials)  # "did not finish", should nothing else come
    assert seen[-1] == (False, order, "ok")


def _planned(req: Any, key: str = "k", timeout_s: int = 60) -> PlannedRun:
    return PlannedRun(index=1, total=1, request=req, key=key, stem="run", timeout_s=timeout_s)


def _child(tmp_path: Path, module: str, req: Any, env: dict[str, str]) -> tuple[ChildProcess, Path]:
    req_path, res_path = tmp_path / "request.json", tmp_path / "result.json"
    req_path.write_text(req.model_dump_json())
    child = ChildProcess(
        child_command(module, req_path, res_path, "k"), cwd=tmp_path, env=child_env(None, env),
        log_path=tmp_path / "child.log",
    )  # fmt: skip
    return child, res_path


def test_a_cancelled_run_keeps_its_finished_phases(tmp_path: Path) -> None:
    req = tiny_request("llama", train={"max_steps": 3})
    env = {"HARNESS_TEST_HOOKS": "1", "HARNESS_FAULTS": "fake:0.5,hang@step:2"}
    child, res_path = _child(tmp_path, "harness.child.fake", req, env)
    stop = threading.Event()
    child.start()

    def cancel_when_hung() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "fired hang" not in (tmp_path / "child.log").read_text(errors="replace"):
            time.sleep(0.05)
        stop.set()

    threading.Thread(target=cancel_when_hung, daemon=True).start()
    outcome = child.wait(60, 1.0, stop)
    assert outcome.cancelled and outcome.injected == "hang@step:2"
    res, by_child, _ = result_from_child(_planned(req), outcome, res_path.read_text())
    assert not by_child and res.status == "cancelled" and not res.partial
    assert list(res.phases) == ["load", "generate_base", "eval_base"]  # train never finished
    assert res.injected == "hang@step:2" and "3 phases it finished are kept" in res.reason


def test_a_timed_out_or_crashed_run_keeps_its_finished_phases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "fake:0.5,r8 ~hang@step:2,r16 ~segv@generate")
    cand = {**tiny_candidate("llama").model_dump(), "name": "llama-tiny"}
    spec = SweepSpec.model_validate({
        "name": "keep", "axes": {"candidates": ["llama-tiny"], "ranks": [8, 16]}, "weights": "shape",
        "base": {"device": "cpu", "train": {"max_steps": 3}}, "timeout_s": 4,
    })  # fmt: skip
    reqs = expand_sweep(spec, CandidateFile.model_validate({"candidates": [cand]}))
    out = run_sweep(spec, reqs, SweepOptions(tmp_path / "results", child_module="harness.child.fake", progress="quiet",
                                             kill_grace_s=1.0))  # fmt: skip
    rows = {r.rank: r for r in out.results}
    assert rows[8].status == "timeout" and list(rows[8].phases) == ["load", "generate_base", "eval_base"]
    assert rows[8].injected == "r8 ~hang@step:2"  # the directive as written
    # segv at the first generate point: load had finished, generate_base had not
    assert rows[16].status == "crashed" and list(rows[16].phases) == ["load"]
    assert rows[16].injected == "r16 ~segv@generate" and "SIGSEGV" in rows[16].reason


@pytest.mark.slow  # a real child: imports, a tiny model, killed in its first training step
def test_a_real_child_killed_mid_training_keeps_its_phases(tmp_path: Path, shape_cache: Path) -> None:
    req = tiny_request("llama")
    env = {"HARNESS_TEST_HOOKS": "1", "HARNESS_FAULTS": "kill@step:1", "HARNESS_CACHE": str(shape_cache)}
    child, res_path = _child(tmp_path, "harness.child.run", req, env)
    child.start()
    outcome = child.wait(300, 1.0)
    assert outcome.signal == "SIGKILL" and outcome.injected == "kill@step:1"
    partial = RunResult.read(res_path)
    assert partial.partial and partial.status == "failed"
    res, by_child, _ = result_from_child(_planned(req), outcome, res_path.read_text())
    assert not by_child and res.status == "crashed"
    assert list(res.phases) == ["load", "latency_base", "lora", "train_setup"]  # train was cut short
    assert res.environment is not None and res.environment.env_vars["HARNESS_FAULTS"] == "kill@step:1"
    assert res.injected == "kill@step:1" and res.weights is not None and res.baseline is not None


# ---------------------------------------------------------------- injected faults


def test_an_injected_oom_is_marked(tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "oom@step:1")
    monkeypatch.setattr(run_mod.faults, "_fired", [])
    req_path = tmp_path / "req.json"
    req_path.write_text(tiny_request("llama").model_dump_json())
    assert run_mod.main(["--request", str(req_path), "--result", str(tmp_path / "r.json"), "--key", "x"]) == 0
    res = RunResult.read(tmp_path / "r.json")
    assert res.status == "oom" and res.injected == "oom@step:1" and not res.partial
    assert res.environment is not None and res.environment.env_vars["HARNESS_FAULTS"] == "oom@step:1"


def test_a_run_without_faults_is_not_marked(tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HARNESS_FAULTS", raising=False)
    res = _execute(tmp_path, tiny_request("llama", generation={"base_answers": False}))
    assert res.status == "ok" and res.injected is None and "HARNESS_FAULTS" not in res.environment.env_vars


# ---------------------------------------------------------------- the shape build's memory


@pytest.mark.slow  # two runs of a 29M-parameter model, one building it
def test_the_shape_build_leaves_nothing_in_the_load_phase(tmp_path: Path) -> None:
    """Host RSS as the CPU's proxy for GPU memory: a run that built its weights loads at the same peak as one
    that found them cached (measured: +23 MiB before the build's memory was given back, +3 MiB after)."""
    script = tmp_path / "one_run.py"
    script.write_text(
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from harness.child import run as run_mod\n"
        "from harness.result import RunResult\n"
        "from tests.tiny import tiny_candidate, tiny_request\n"
        "cfg = dict(vocab_size=4096, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,\n"
        "           num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=256)\n"
        "req = tiny_request('llama', candidate=tiny_candidate('llama', shape_config=cfg),\n"
        "                   generation={'base_answers': False}, train={'max_steps': 1})\n"
        "run_mod.RunChild(req, 'k', Path('r.json')).execute()\n"
        "r = RunResult.read(Path('r.json'))\n"
        "print('RESULT', json.dumps([r.status, 'shape_build_s' in r.one_time, r.phases['load'].host_rss_peak_mib]))\n"
    )
    import os
    import subprocess

    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(Path(__file__).parents[1])}
    peaks = []
    for _ in range(2):  # cold (builds), then warm (cached)
        p = subprocess.run([PY, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT"))
        status, built, peak = json.loads(line.removeprefix("RESULT "))
        assert status == "ok"
        peaks.append((built, peak))
    (cold_built, cold), (warm_built, warm) = peaks
    assert cold_built and not warm_built
    assert cold - warm < 12, (cold, warm)
