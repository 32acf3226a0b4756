"""Executor "ray": the same child, as Ray tasks on a local Ray instance; results in the same layout."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from harness.errors import UserError
from harness.result import RunResult
from harness.sweep import SweepOptions, collect_results, run_sweep
from tests.test_sweep import make_requests, make_spec

HAS_RAY = importlib.util.find_spec("ray") is not None


def test_missing_ray_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    spec = make_spec([4])
    with pytest.raises(UserError, match=r"ray is not installed: pip install 'lora-harness\[ray\]'"):
        run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, executor="ray", ray_address="local"))
    assert not (tmp_path / "tiny").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_RAY, reason="ray is not installed (pip install 'lora-harness[ray]')")
def test_ray_local_instance(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    torch_before = "torch" in sys.modules
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "fake:0.2,r8 ~segv@load,r16 ~oom@step:1,r32 ~hang@load")
    spec = make_spec([4, 8, 16, 32])
    kw = {"executor": "ray", "ray_address": "local", "child_module": "harness.child.fake", "progress": "plain"}
    out = run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, timeout_s=3, kill_grace_s=1.0, **kw))
    rows = {r.rank: r for r in out.results}
    assert [rows[r].status for r in (4, 8, 16, 32)] == ["ok", "crashed", "oom", "timeout"]
    assert rows[8].reason.startswith("killed by SIGSEGV") and "HARNESS_FAKE pid" in rows[8].stderr_tail
    assert "out of memory" in rows[16].reason
    root = tmp_path / "tiny"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["executor"] == "ray" and len(manifest["runs"]) == 4
    for run in manifest["runs"]:
        RunResult.read(root / "runs" / f"{run['stem']}.json")
        log = (root / "logs" / f"{run['stem']}.log").read_text()
        assert "HARNESS_PHASE load" in log and "[harness.sweep]" in log and "ran on" in log
    assert collect_results(root).warnings == []
    if not torch_before:
        assert "torch" not in sys.modules

    # resume: nothing to do; retry_failed reruns the three failures
    monkeypatch.setenv("HARNESS_FAULTS", "fake:0.2")
    again = run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, **kw))
    assert again.ran == [] and len(again.kept) == 4
    retried = run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, retry_failed=True, **kw))
    assert len(retried.ran) == 3 and retried.counts == {"ok": 4}
