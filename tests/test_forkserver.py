"""The fork server (issue: the sweep at the speed of its work): a forked run records what a fresh one does."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.config import make_spec
from harness.result import RunResult
from harness.sweep import SweepOptions, run_sweep
from tests.tiny import tiny_request

pytestmark = pytest.mark.slow

SETTINGS_TIMING_FREE = ("wall_s", "samples", "host_rss_peak_mib", "energy_j")


def _sweep(tmp_path: Path, start: str, **kw) -> RunResult:
    req = tiny_request("llama", **kw)
    spec = make_spec({"name": f"fork-{start}", "axes": {"candidates": [req.candidate.name]}}, "test")
    out = run_sweep(
        spec, [req], SweepOptions(tmp_path / start, progress="quiet", start=start, timeout_s=kw.pop("t", 300))
    )
    assert len(out.results) == 1
    return out.results[0]


def test_forked_run_records_the_same_settings_and_phases_as_a_fresh_one(tmp_path: Path, shape_cache: Path) -> None:
    fresh = _sweep(tmp_path, "fresh")
    forked = _sweep(tmp_path, "fork")
    assert fresh.status == forked.status == "ok", (fresh.reason, forked.reason)
    assert forked.environment.env_vars.get("HARNESS_START") == "fork"
    assert "HARNESS_START" not in fresh.environment.env_vars
    # the sweep shares its compile caches; nothing compiles on the CPU, so both found them cold
    assert fresh.environment.compile_caches == {"inductor": "cold", "triton": "cold", "unsloth": "cold"}
    # the same CPU side: a fork inherits its server's process state (threads, affinity), a fresh start does not
    assert fresh.environment.cpu_threads == forked.environment.cpu_threads
    assert fresh.environment.cpu_threads["torch_threads"] >= 1 and fresh.environment.cpu_threads["usable_cpus"] >= 1
    # same work: every effective setting, the same phases in the same order, same steps and answers
    assert fresh.effective == forked.effective
    assert list(fresh.phases) == list(forked.phases)
    assert len(fresh.steps.times_s) == len(forked.steps.times_s)
    assert [(a.id, a.stage, a.new_tokens) for a in fresh.answers] == [
        (a.id, a.stage, a.new_tokens) for a in forked.answers
    ]
    # seeded: the same numbers (to the CPU's own run-to-run noise: two fresh runs differ by ~1e-5)
    assert [s for s, _ in fresh.loss_curve] == [s for s, _ in forked.loss_curve]
    assert [v for _, v in forked.loss_curve] == pytest.approx([v for _, v in fresh.loss_curve], rel=1e-4)
    # the run's clock starts at its fork, not when the server imported the libraries
    assert 0 < forked.wall_s < fresh.wall_s + 60


def test_a_hung_forked_run_is_killed_by_its_timeout(tmp_path: Path, shape_cache: Path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "hang@load")
    from harness.sweep import forkserver_session

    server_dir = tmp_path / "server"

    def mkdtemp(prefix: str = "") -> str:
        server_dir.mkdir()
        return str(server_dir)

    monkeypatch.setattr(forkserver_session.tempfile, "mkdtemp", mkdtemp)
    req = tiny_request("llama")
    spec = make_spec({"name": "fork-hang", "axes": {"candidates": [req.candidate.name]}}, "test")
    out = run_sweep(spec, [req], SweepOptions(tmp_path, progress="quiet", start="fork", timeout_s=20, kill_grace_s=1.0))
    res = out.results[0]
    assert res.status == "timeout"
    leftover = [p for p in os.listdir("/proc") if p.isdigit() and str(server_dir) in _cmdline(p)]
    assert not leftover
    assert not server_dir.exists()  # the server stopped and took its socket with it


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_the_server_preloads_nothing_that_touches_cuda() -> None:
    """peft imports bitsandbytes and torchao where installed, and they initialise CUDA (seen on the H100)."""
    import subprocess
    import sys

    code = (
        "import sys; from harness.sweep.forkserver import _preload, NEVER_PRELOAD; _preload(); "
        "print(sorted(m for m in NEVER_PRELOAD if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
