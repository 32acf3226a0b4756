"""The sweep: keys, isolation, failures as results, timeouts, Ctrl-C, resume, corrupt files, GPUs.

Runs use the fake child (`python -m harness.child.fake`, active only with HARNESS_TEST_HOOKS=1),
so no model and no torch are needed; faults are injected with HARNESS_FAULTS.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness import faults
from harness import nvml as gpu_mod
from harness.child.fake import fake_run
from harness.config import Candidate, CandidateFile, RunRequest, SweepSpec, expand_sweep
from harness.errors import UserError
from harness.keys import canonical_json, data_sha256, package_names, sanitize
from harness.result import RunResult
from harness.sweep import (
    KEEP_STATUSES,
    RETRY_STATUSES,
    SweepOptions,
    collect_results,
    figure_packages,
    result_stem,
    run_key,
    run_sweep,
    should_run,
)
from harness.sweep.layout import SweepDir
from harness.sweep.outcome import PlannedRun, parent_result
from tests.tiny import tiny_request

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

CANDIDATE = {
    "name": "llama-tiny",
    "hub_id": "test/llama-tiny",
    "params_b": 0.001,
    "license": "mit",
    "family": "llama",
    "model_type": "llama",
    "shape_config": {
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "vocab_size": 512,
    },
    "lora_target_modules": ["q_proj", "v_proj"],
}


def make_spec(ranks: list[int], name: str = "tiny", device: str = "cpu", timeout_s: int = 60) -> SweepSpec:
    return SweepSpec.model_validate(
        {
            "name": name,
            "axes": {"candidates": ["llama-tiny"], "ranks": ranks},
            "weights": "shape",
            "base": {"device": device, "train": {"max_steps": 3}},
            "timeout_s": timeout_s,
        }
    )


def make_requests(spec: SweepSpec) -> list[RunRequest]:
    return expand_sweep(spec, CandidateFile.model_validate({"candidates": [CANDIDATE]}))


def write_plan(path: Path, spec: SweepSpec) -> Path:
    path.write_text(json.dumps({"spec": spec.model_dump(mode="json"), "candidates": [CANDIDATE]}))
    return path


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch):
    """Enable the test hooks; returns a setter for HARNESS_FAULTS."""
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")

    def set_faults(value: str) -> None:
        monkeypatch.setenv("HARNESS_FAULTS", value)

    set_faults("fake")
    return set_faults


def sweep(tmp_path: Path, ranks: list[int], **kw):
    spec = make_spec(ranks, device=kw.pop("device", "cpu"), timeout_s=kw.pop("spec_timeout", 60))
    kw.setdefault("child_module", "harness.child.fake")
    kw.setdefault("progress", "plain")
    kw.setdefault("kill_grace_s", 1.0)
    return run_sweep(spec, make_requests(spec), SweepOptions(tmp_path / "results", **kw))


def by_rank(results: list[RunResult]) -> dict[int, RunResult]:
    return {r.rank: r for r in results}


def fake_pids(log: Path) -> list[int]:
    text = log.read_text(errors="replace")
    return [int(x) for x in re.findall(r"HARNESS_FAKE pid (\d+)", text)] + [
        int(x) for x in re.findall(r"HARNESS_FAULT spawned pid (\d+)", text)
    ]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_mentioning(text: str) -> list[int]:
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and text in " ".join(p.info["cmdline"] or []):
                out.append(p.pid)
        except psutil.Error:
            continue
    return out


def snapshot(runs: Path) -> dict[str, tuple[int, bytes]]:
    return {f.name: (f.stat().st_mtime_ns, f.read_bytes()) for f in runs.glob("*.json")}


def wait_for(cond, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- faults


def test_fault_syntax():
    ds = faults.parse("oom@step:2, segv@load ,kill,hang@generate,exit3@write,llama r32~oom@step:1,fake:0.5,sleep:1.5")
    assert [(d.action, d.point, d.scope, d.arg) for d in ds] == [
        ("oom", "step:2", "", None),
        ("segv", "load", "", None),
        ("kill", "start", "", None),
        ("hang", "generate", "", None),
        ("exit", "write", "", 3.0),
        ("oom", "step:1", "llama r32", None),
        ("fake", None, "", 0.5),
        ("sleep", "start", "", 1.5),
    ]
    assert faults.parse("r1 ~segv")[0].matches("llama-tiny r1 hf") and not faults.parse("r1 ~segv")[0].matches(
        "x r16 hf"
    )
    for bad in ("boom@start", "exit@start", "fake@load", "sleep@load", "oom:x@start"):
        with pytest.raises(faults.FaultSyntaxError):
            faults.parse(bad)


def test_hit_is_inert_without_hooks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv("HARNESS_TEST_HOOKS", raising=False)
    monkeypatch.setenv("HARNESS_FAULTS", "oom@start,fake")
    faults.hit("start", "anything")  # no exception
    req = tmp_path / "r.json"
    req.write_text(make_requests(make_spec([4]))[0].model_dump_json())
    assert fake_run(req, tmp_path / "out.json", "k") is False
    assert not (tmp_path / "out.json").exists()
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "yes")  # only exactly "1" enables them
    assert fake_run(req, tmp_path / "out.json", "k") is False
    # and the module refuses to act as a child without them
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_TEST_HOOKS"}
    p = subprocess.run(
        [PY, "-m", "harness.child.fake", "--request", str(req), "--result", str(tmp_path / "o.json"), "--key", "k"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert p.returncode == 2 and "HARNESS_TEST_HOOKS=1" in p.stderr and not (tmp_path / "o.json").exists()


def test_hit_injected_oom(hooks):
    hooks("llama~oom@step:2")
    faults.hit("step:1", "llama-tiny r4")
    faults.hit("step:2", "qwen r4")  # out of scope
    with pytest.raises(faults.InjectedOOM, match="out of memory"):
        faults.hit("step:2", "llama-tiny r4")
    assert issubclass(faults.InjectedOOM, RuntimeError)


def test_fake_run_writes_a_valid_result(hooks, tmp_path: Path):
    hooks("fake")
    req = tmp_path / "r.json"
    request = make_requests(make_spec([4]))[0]
    req.write_text(request.model_dump_json())
    assert fake_run(req, tmp_path / "out.json", "abc") is True
    r = RunResult.read(tmp_path / "out.json")
    assert (r.status, r.key, r.label) == ("ok", "abc", request.label)


# ---------------------------------------------------------------- keys and stems


def test_run_key_changes_with_each_input():
    r16, r32 = make_requests(make_spec([16, 32]))
    pk = {"torch": "2.13.0", "peft": None}
    base = run_key(r16, "d" * 64, pk, "NVIDIA H100")
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert run_key(r16, "d" * 64, dict(reversed(pk.items())), "NVIDIA H100") == base  # canonical
    assert run_key(RunRequest.model_validate(r16.model_dump()), "d" * 64, pk, "NVIDIA H100") == base
    others = {
        run_key(r32, "d" * 64, pk, "NVIDIA H100"),
        run_key(r16, "e" * 64, pk, "NVIDIA H100"),
        run_key(r16, "d" * 64, {**pk, "torch": "2.14.0"}, "NVIDIA H100"),
        run_key(r16, "d" * 64, pk, "Tesla T4"),
        run_key(r16, "d" * 64, pk, None),
        run_key(
            r16.model_copy(update={"train": r16.train.model_copy(update={"seed": 1})}), "d" * 64, pk, "NVIDIA H100"
        ),
    }
    assert base not in others and len(others) == 6
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'


def test_data_sha_and_packages(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("q,a\n1,2\n")
    a = data_sha256(f)
    f.write_text("q,a\n1,3\n")
    assert data_sha256(f) != a
    assert data_sha256(tmp_path / "nope.csv") == "missing"
    pk = figure_packages()
    assert list(pk) == ["harness-measurement", *package_names()]
    assert pk["torch"] is not None  # installed here; absent packages read None


def test_figure_packages_imports_nothing():
    code = "import sys; from harness.keys import figure_packages; figure_packages(); print('torch' in sys.modules)"
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert out.strip() == "False"


def test_stem_sanitisation():
    r = make_requests(make_spec([16]))[0]
    key = "0123456789abcdef" * 4
    assert result_stem(r, key) == "llama-tiny-r16-hf-none-0123456789ab"
    for nasty in ("../../etc/passwd", "a/b\\c d", "..", "...hidden", "모델 이름", ""):
        s = sanitize(nasty)
        assert re.fullmatch(r"[A-Za-z0-9._-]+", s), s
        assert ".." not in s and "/" not in s and not s.startswith(".")
    odd = r.model_copy(update={"candidate": Candidate.model_construct(**{**CANDIDATE, "name": "../x y/..z"})})
    stem = result_stem(odd, key)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", stem) and ".." not in stem and stem.endswith("-0123456789ab")


def test_should_run_matrix():
    def res(status: str) -> RunResult:
        return RunResult(key="k", label="l", status=status, request=tiny_request("llama"), started_at="t")

    for s in KEEP_STATUSES:
        assert not should_run(res(s), retry_failed=False, rerun=False)
        assert not should_run(res(s), retry_failed=True, rerun=False)
        assert should_run(res(s), retry_failed=False, rerun=True)
    for s in RETRY_STATUSES:
        assert not should_run(res(s), retry_failed=False, rerun=False)
        assert should_run(res(s), retry_failed=True, rerun=False)
    assert should_run(res("cancelled"), retry_failed=False, rerun=False)
    assert should_run(None, retry_failed=False, rerun=False)


# ---------------------------------------------------------------- failures are results


def test_failures_are_results_and_the_sweep_goes_on(hooks, tmp_path: Path):
    hooks("fake:0.2,r2 ~oom@step:2,r3 ~segv@load,r4 ~kill@start,r5 ~exit3@generate,r6 ~exit0@write")
    out = sweep(tmp_path, [1, 2, 3, 4, 5, 6])
    rows = by_rank(out.results)
    assert [rows[i].status for i in range(1, 7)] == ["ok", "oom", "crashed", "crashed", "crashed", "crashed"]
    assert "out of memory" in rows[2].reason
    assert rows[3].reason.startswith("killed by SIGSEGV") and "last phase: load" in rows[3].reason
    assert rows[4].reason.startswith("killed by SIGKILL")
    assert rows[5].reason.startswith("exited with code 3")
    assert rows[6].reason.startswith("exited with code 0 without writing a result")
    for i in (3, 4, 5):
        assert rows[i].stderr_tail and "HARNESS_FAKE pid" in rows[i].stderr_tail
        assert rows[i].started_at and rows[i].finished_at and rows[i].wall_s is not None
        assert rows[i].request.lora.rank == i
    assert out.counts == {"ok": 1, "oom": 1, "crashed": 4}
    assert len(out.ran) == 6 and out.failed == 5
    # every file on disk is a valid result, and the table rebuilds from the files alone
    table = collect_results(out.results_dir)
    assert [r.key for r in table] == [r.key for r in out.results] and table.warnings == []
    for r in out.results:
        stem = next(
            p["stem"] for p in json.loads((out.results_dir / "manifest.json").read_text())["runs"] if p["key"] == r.key
        )
        assert (
            (out.results_dir / "logs" / f"{stem}.log")
            .read_text()
            .rstrip()
            .splitlines()[-1]
            .startswith("[harness.sweep]")
        )
    assert out.overhead_per_run_s is not None and set(out.run_overhead_s) == set(out.ran)


def test_timeout_kills_the_whole_group(hooks, tmp_path: Path):
    # r1 hangs (with a grandchild in its group); r2 ignores SIGTERM, so the sweep must SIGKILL it.
    hooks("fake:0.2,r1 ~spawn@load,r1 ~hang@load,r2 ~ignoreterm@start,r2 ~hang@step:1")
    t0 = time.monotonic()
    out = sweep(tmp_path, [1, 2, 3], timeout_s=2, kill_grace_s=1.0)
    rows = by_rank(out.results)
    assert [rows[i].status for i in (1, 2, 3)] == ["timeout", "timeout", "ok"]
    assert "no result after 2 s" in rows[1].reason and "last phase: load" in rows[1].reason
    logs = sorted((out.results_dir / "logs").glob("*.log"))
    pids = [pid for log in logs for pid in fake_pids(log)]
    assert len(pids) == 4  # three children and one grandchild
    assert not [p for p in pids if alive(p)]
    assert not processes_mentioning(str(out.results_dir))
    assert time.monotonic() - t0 < 30


def test_timeout_override_and_spec_timeout(hooks, tmp_path: Path):
    hooks("fake,hang@load")
    out = sweep(tmp_path, [4], spec_timeout=2)
    assert out.results[0].status == "timeout" and "after 2 s" in out.results[0].reason


# ---------------------------------------------------------------- resume


def test_resume_retry_failed_and_rerun(hooks, tmp_path: Path):
    hooks("fake,r8 ~oom@step:1,r16 ~segv@start")
    first = sweep(tmp_path, [4, 8, 16])
    assert [r.status for r in first.results] == ["ok", "oom", "crashed"]
    runs = first.results_dir / "runs"
    before = snapshot(runs)

    hooks("fake")
    again = sweep(tmp_path, [4, 8, 16])  # nothing to do: failures are kept unless retry_failed
    assert again.ran == [] and len(again.kept) == 3 and snapshot(runs) == before
    assert [r.status for r in again.results] == ["ok", "oom", "crashed"]

    retried = sweep(tmp_path, [4, 8, 16], retry_failed=True)
    assert [r.status for r in retried.results] == ["ok", "ok", "ok"]
    assert len(retried.ran) == 2 and retried.kept == [first.results[0].key]
    after = snapshot(runs)
    ok_name = next(n for n in before if "-r4-" in n)
    assert after[ok_name] == before[ok_name]  # untouched: same mtime, same bytes

    rerun = sweep(tmp_path, [4, 8, 16], rerun=True)
    assert len(rerun.ran) == 3 and snapshot(runs)[ok_name] != before[ok_name]

    # a cancelled result is always rerun
    run = PlannedRun(1, 3, make_requests(make_spec([4]))[0], first.results[0].key, ok_name[:-5], 60)
    parent_result(run, "cancelled", "test").write(runs / ok_name)
    resumed = sweep(tmp_path, [4, 8, 16])
    assert resumed.ran == [first.results[0].key] and resumed.results[0].status == "ok"
    # every redone run's earlier try (and its log) stays on record, numbered: retried failures, --rerun, cancelled
    attempts = first.results_dir / "attempts"
    tries = {
        re.search(r"-(r\d+)-.*-(\d+)$", p.stem): json.loads(p.read_text())["status"] for p in attempts.glob("*.json")
    }
    status = {f"{m[1]}-{m[2]}": st for m, st in tries.items() if m}
    assert status == {"r8-1": "oom", "r16-1": "crashed", "r4-1": "ok", "r8-2": "ok", "r16-2": "ok", "r4-2": "cancelled"}
    assert len(list(attempts.glob("*.log"))) == 6 and not list(runs.glob("*-[0-9].json"))

    manifest = json.loads((first.results_dir / "manifest.json").read_text())
    assert manifest["spec"]["name"] == "tiny" and len(manifest["runs"]) == 3
    assert set(manifest["runs"][0]) == {"key", "stem", "label"}
    assert len(manifest["invocations"]) == 5 and manifest["created_at"] <= manifest["updated_at"]
    assert manifest["invocations"][-1]["ran"] == 1 and "command" in manifest


def test_corrupt_result_is_detected_and_redone(hooks, tmp_path: Path):
    first = sweep(tmp_path, [4, 8, 16])
    runs = first.results_dir / "runs"
    files = sorted(runs.glob("*.json"))
    truncated = next(f for f in files if "-r4-" in f.name)
    wrong = next(f for f in files if "-r8-" in f.name)
    good = next(f for f in files if "-r16-" in f.name)
    truncated.write_text(truncated.read_text()[:100])
    wrong.write_text(json.dumps({"schema_version": 99, "key": "x"}))
    (runs / ".stale.json.abc123.tmp").write_text('{"half')  # a writer killed mid-write
    good_before = snapshot(runs)[good.name]

    table = collect_results(first.results_dir)
    assert len(table) == 1 and len(table.warnings) == 2 and all("skipped" in w for w in table.warnings)

    out = sweep(tmp_path, [4, 8, 16])
    assert sorted(by_rank(out.results)) == [4, 8, 16] and {r.status for r in out.results} == {"ok"}
    assert len(out.ran) == 2
    assert any("unreadable result" in w and "redoing" in w for w in out.warnings)
    assert any("not a schema-2 result" in w for w in out.warnings)
    assert any("temp file" in w for w in out.warnings)
    assert (runs / (truncated.name + ".corrupt")).exists()
    assert not list(runs.glob("*.tmp")) and snapshot(runs)[good.name] == good_before
    assert collect_results(first.results_dir).warnings == []


def test_collect_results_leaves_out_other_plans(hooks, tmp_path: Path):
    sweep(tmp_path, [4, 8])
    out = sweep(tmp_path, [4])  # new plan: only r4 is in the manifest now
    table = collect_results(out.results_dir)
    assert [r.rank for r in table] == [4] and any("earlier plan" in w for w in table.warnings)
    assert sorted(r.rank for r in collect_results(out.results_dir, manifest_only=False)) == [4, 8]
    assert len(collect_results(out.results_dir / "runs")) == 1
    assert collect_results(tmp_path / "nowhere").warnings


def test_added_runs_join_the_plan_instead_of_replacing_it(hooks, tmp_path: Path):
    """Repeats of a deciding configuration (bench --spec S --model M --ranks R --repeats 3) join the study."""
    first = sweep(tmp_path, [4, 8])
    spec = make_spec([4], timeout_s=60)
    spec = SweepSpec.model_validate({**spec.model_dump(mode="json"), "axes": {**spec.axes.model_dump(), "repeats": 2}})
    options = SweepOptions(tmp_path / "results", child_module="harness.child.fake", progress="plain", kill_grace_s=1.0,
                           add=True)  # fmt: skip
    out = run_sweep(spec, make_requests(spec), options)
    assert len(out.ran) == 1 and len(out.kept) == 1  # repeat 1 of r4 is the study's own run
    table = collect_results(out.results_dir)
    assert sorted((r.rank, r.request.repeat) for r in table) == [(4, 0), (4, 1), (8, 0)] and not table.warnings
    manifest = json.loads((out.results_dir / "manifest.json").read_text())
    assert manifest["spec"]["axes"]["ranks"] == [4, 8]  # the study's spec, its name, job and ranking
    assert [r["key"] for r in manifest["runs"][:2]] == [r.key for r in first.results]
    assert len(manifest["invocations"]) == 2
    assert manifest["invocations"][-1]["warmup_s"] == 0.0 and manifest["invocations"][-1]["workers"] == 1  # CPU


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_cancels_then_resume_finishes(tmp_path: Path, sig: signal.Signals):
    spec = make_spec([4, 8, 16, 32])
    plan = write_plan(tmp_path / "plan.json", spec)
    results = tmp_path / "results"
    cmd = [PY, "-m", "harness.sweep", str(plan), str(results), "--child-module", "harness.child.fake"]
    cmd += ["--progress", "plain", "--kill-grace", "2"]
    env = {**os.environ, "HARNESS_TEST_HOOKS": "1", "HARNESS_FAULTS": "fake:0.2,r16 ~hang@step:2"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs, logs = results / "tiny" / "runs", results / "tiny" / "logs"
    try:
        wait_for(lambda: any("fake step 1/3" in f.read_text() for f in logs.glob("*-r16-*.log")), what="r16 to hang")
        assert len(list(runs.glob("*.json"))) == 2
        before = snapshot(runs)
        proc.send_signal(sig)
        _stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert "interrupted" in last and "resume with:" in last and "harness.sweep" in last
    assert "2 run(s) finished, 1 cancelled, 1 not started" in last
    rows = by_rank(collect_results(results / "tiny"))
    assert sorted(rows) == [4, 8, 16] and rows[16].status == "cancelled" and "last phase: train" in rows[16].reason
    r16_log = next(logs.glob("*-r16-*.log"))
    assert not [p for p in fake_pids(r16_log) if alive(p)]
    assert not processes_mentioning(str(results))

    env["HARNESS_FAULTS"] = "fake:0.2"
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ran"] == 2 and summary["kept"] == 2 and summary["counts"] == {"ok": 4}
    after = snapshot(runs)
    for name, state in before.items():
        assert after[name] == state  # finished runs kept: same mtime, same bytes


def test_sigkill_of_the_sweep_then_resume(tmp_path: Path):
    spec = make_spec([4, 8, 16, 32, 64])
    plan = write_plan(tmp_path / "plan.json", spec)
    results = tmp_path / "results"
    cmd = [
        PY,
        "-m",
        "harness.sweep",
        str(plan),
        str(results),
        "--child-module",
        "harness.child.fake",
        "--progress",
        "plain",
    ]
    env = {**os.environ, "HARNESS_TEST_HOOKS": "1", "HARNESS_FAULTS": "fake:0.2,r16 ~sleep:60@load"}
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = results / "tiny"
    runs = root / "runs"
    try:
        wait_for(lambda: list(root.glob("scratch/*-r16-*/child.pid")), what="r16 to start")
        wait_for(lambda: any("HARNESS_PHASE load" in f.read_text() for f in root.glob("logs/*-r16-*.log")))
        proc.kill()  # SIGKILL: no cleanup at all
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = snapshot(runs)
    assert len(before) == 2
    orphan = fake_pids(next(root.glob("logs/*-r16-*.log")))[0]
    assert alive(orphan)  # its child lives on (its own session): the resume must deal with it
    # what a writer killed mid-write leaves behind: temp files only
    (runs / ".llama-tiny-r32-hf-none-000000000000.json.x1y2.tmp").write_text('{"schema_version": 1, "ke')
    (root / ".manifest.json.zz.tmp").write_text("{")

    env["HARNESS_FAULTS"] = "fake:0.2"
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "killed a child left running by an earlier sweep" in done.stdout
    assert not alive(orphan)
    table = collect_results(root)
    assert table.warnings == [] and [r.rank for r in table] == [4, 8, 16, 32, 64]
    assert {r.status for r in table} == {"ok"}
    assert not list(root.rglob("*.tmp"))
    after = snapshot(runs)
    for name, state in before.items():
        assert after[name] == state
    assert not processes_mentioning(str(results))


# ---------------------------------------------------------------- the parent stays light


def test_parent_never_imports_torch(tmp_path: Path):
    code = f"""
import sys, os, json
os.environ["HARNESS_TEST_HOOKS"] = "1"; os.environ["HARNESS_FAULTS"] = "fake,r8 ~segv@load"
sys.path.insert(0, {str(REPO)!r})
from tests.test_sweep import make_spec, make_requests
from harness.sweep import SweepOptions, run_sweep, collect_results
spec = make_spec([4, 8])
out = run_sweep(spec, make_requests(spec), SweepOptions({str(tmp_path)!r}, child_module="harness.child.fake", progress="plain"))
collect_results(out.results_dir)
heavy = [m for m in ("torch", "transformers", "peft", "trl", "harness.child.run", "unsloth") if m in sys.modules]
print(json.dumps({{"heavy": heavy, "counts": out.counts}}))
"""
    p = subprocess.run([PY, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got == {"heavy": [], "counts": {"ok": 1, "crashed": 1}}


# ---------------------------------------------------------------- isolation details


def test_child_environment_and_scratch(hooks, tmp_path: Path):
    out = sweep(tmp_path, [4])
    root = out.results_dir
    stem = json.loads((root / "manifest.json").read_text())["runs"][0]["stem"]
    log = (root / "logs" / f"{stem}.log").read_text()
    assert f"cwd {root / 'scratch' / stem}" in log
    assert RunRequest.model_validate_json((root / "scratch" / stem / "request.json").read_text()).lora.rank == 4
    assert not (root / "scratch" / stem / "child.pid").exists()
    assert not (root / "scratch" / stem / "result.json").exists()  # moved to runs/


def test_several_gpus_run_at_once(hooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gpu_mod, "gpu_count", lambda: 2)
    monkeypatch.setattr(gpu_mod, "used_by_others_mib", lambda i: 10.0)
    hooks("fake:1.0")
    out = sweep(tmp_path, [4, 8, 16, 32], device="auto", gpus=[0, 1])
    assert out.counts == {"ok": 4} and out.workers == 2
    spans, cvds = [], set()
    for log in (out.results_dir / "logs").glob("*.log"):
        text = log.read_text()
        cvds.add(re.search(r"CUDA_VISIBLE_DEVICES=(\S+)", text).group(1))
        spans.append(
            (float(re.search(r" t0 ([\d.]+)", text).group(1)), float(re.search(r" t1 ([\d.]+)", text).group(1)))
        )
    assert cvds == {"0", "1"}
    spans.sort()
    assert any(b0 < a1 for (_, a1), (b0, _) in itertools.pairwise(spans)), spans  # runs overlapped
    manifest = json.loads((out.results_dir / "manifest.json").read_text())
    assert manifest["gpus"] == [0, 1]


def test_busy_gpu_refuses_the_run_and_goes_on(hooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gpu_mod, "gpu_count", lambda: 1)
    monkeypatch.setattr(gpu_mod, "BUSY_POLL_S", 0.05)
    readings = iter([5000.0] * 1000)
    monkeypatch.setattr(gpu_mod, "used_by_others_mib", lambda i: next(readings))
    out = sweep(tmp_path, [4, 8], device="auto", gpus=[0], busy_mib=1024, busy_wait_s=0.3)
    assert [r.status for r in out.results] == ["failed", "failed"]
    assert out.results[0].reason == "GPU 0 busy: 5000 MiB used by other processes (threshold 1024)"
    # frees up while waiting -> the run goes ahead
    readings2 = iter([5000.0, 5000.0] + [100.0] * 1000)
    monkeypatch.setattr(gpu_mod, "used_by_others_mib", lambda i: next(readings2))
    out = sweep(tmp_path, [4, 8], device="auto", gpus=[0], busy_wait_s=30, retry_failed=True)
    assert [r.status for r in out.results] == ["ok", "ok"]


def test_gpu_module_without_nvml():
    if gpu_mod.gpu_count():
        pytest.skip("this machine has NVML GPUs")
    assert gpu_mod.gpu_names() is None and gpu_mod.key_gpu_name(None) is None
    assert gpu_mod.gpu_info(0) is None and gpu_mod.baseline(None) is None
    assert gpu_mod.wait_until_idle(0, 1024, 1) is None


# ---------------------------------------------------------------- errors and output


def test_user_errors(hooks, tmp_path: Path):
    with pytest.raises(UserError, match="unknown executor"):
        sweep(tmp_path, [4], executor="slurm")
    with pytest.raises(UserError, match="empty"):
        sweep(tmp_path, [4], gpus=[])
    with pytest.raises(UserError, match="distinct"):
        sweep(tmp_path, [4], gpus=[0, 0])
    layout = SweepDir(tmp_path / "results" / "tiny")
    layout.ensure()
    with layout.lock(), pytest.raises(UserError, match="another sweep is running"):
        sweep(tmp_path, [4])


def test_results_dir_named_after_the_sweep_is_used_as_is(hooks, tmp_path: Path):
    spec = make_spec([4])
    out = run_sweep(
        spec, make_requests(spec), SweepOptions(tmp_path / "tiny", child_module="harness.child.fake", progress="quiet")
    )
    assert out.results_dir == tmp_path / "tiny" and (tmp_path / "tiny" / "manifest.json").exists()


def test_plain_and_rich_progress(hooks, tmp_path: Path, capsys: pytest.CaptureFixture):
    sweep(tmp_path, [4, 8])
    text = capsys.readouterr().out
    assert "sweep tiny: 2 runs, 0 kept from earlier, 2 to run" in text
    assert "[1/2] start" in text and "[1/2] phase   llama-tiny r4 hf none shape: train" in text
    assert "[2/2] ok" in text and "eta" in text and "status" in text  # the final table
    sweep(tmp_path, [4, 8, 16], progress="rich")
    text = capsys.readouterr().out
    assert "1 to run" in text and "kept" in text


# ---------------------------------------------------------------- with the real child


@pytest.mark.slow
def test_real_child_oom_and_segv_rows(tmp_path: Path, shape_cache: Path, monkeypatch: pytest.MonkeyPatch):
    """harness.child.run itself (tiny shape-mode llama on the CPU): an injected OOM is an `oom` row, SIGSEGV `crashed`."""

    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "r8 ~oom@step:1,r16 ~segv@load")
    requests = [tiny_request("llama", lora={"rank": r}) for r in (4, 8, 16)]
    out = run_sweep(make_spec([4]), requests, SweepOptions(tmp_path, progress="plain", timeout_s=300))
    rows = by_rank(out.results)
    assert rows[4].status == "ok", rows[4].reason
    assert rows[8].status == "oom" and "out of memory" in rows[8].reason
    assert rows[16].status == "crashed" and rows[16].reason.startswith("killed by SIGSEGV")
    assert rows[4].environment is not None  # the child's own result, kept as written


def test_warm_up_runs_once_per_boot_and_gpu(hooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """A fresh machine gets a warm-up run first; a later sweep on the same boot and GPU does not."""
    from harness.sweep import warmth

    boot = tmp_path / "boot_id"
    boot.write_text("boot-1\n")
    monkeypatch.setattr(warmth, "BOOT_ID_FILE", boot)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gpu_mod, "key_gpu_name", lambda indices: "Fake GPU 80GB")
    first = sweep(tmp_path, [4], device="auto")
    inv = json.loads((first.results_dir / "manifest.json").read_text())["invocations"][-1]
    assert inv["warmup"] == "ran" and len(first.ran) == 2  # the warm-up, then the run
    assert any("-warmup-" in p.name for p in (first.results_dir / "runs").glob("*.json"))
    printed = capsys.readouterr().out
    assert "(done 0/1," in printed and "(done 1/1," in printed and "done 2/1" not in printed  # the warm-up is extra

    again = sweep(tmp_path, [4, 8], device="auto")
    inv = json.loads((again.results_dir / "manifest.json").read_text())["invocations"][-1]
    assert inv["warmup"].startswith("skipped") and len(again.ran) == 1 and inv["warmup_s"] == 0.0

    boot.write_text("boot-2\n")  # rebooted, or another machine
    third = sweep(tmp_path, [4, 8, 16], device="auto")
    assert json.loads((third.results_dir / "manifest.json").read_text())["invocations"][-1]["warmup"] == "ran"
    monkeypatch.setattr(warmth, "BOOT_ID_FILE", tmp_path / "none")  # no boot id: always warm up
    assert not warmth.is_warm("Fake GPU 80GB local")
