"""The sweep's seams (issue 25): SweepOptions built once from the parsed flags, the executor picked by
run_sweep, and the one reader of run files that the sweep and the report share."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harness.errors import UserError
from harness.result import RunResult
from harness.results_folder import read_attempts, read_manifest, scan_runs
from harness.sweep import SweepOptions
from harness.sweep.local_executor import LocalExecutor
from harness.sweep.runner import make_executor
from tests.tiny import tiny_request


def test_options_from_the_parsed_flags() -> None:
    args = argparse.Namespace(gpus="0,1", executor="local", ray_address=None, retry_failed=True, rerun=False,
                              timeout=90, start="fresh", kill_grace=2.5, progress="quiet", spec="x.yaml")  # fmt: skip
    o = SweepOptions.from_args(args, "results/x", gpus=[0, 1], command="harness.bench()", add=True)
    assert o.results_dir == Path("results/x") and o.gpus == [0, 1]  # what the caller worked out wins
    assert (o.retry_failed, o.rerun, o.timeout_s, o.start, o.kill_grace_s, o.progress) == (
        True, False, 90, "fresh", 2.5, "quiet",
    )  # fmt: skip
    assert o.command == "harness.bench()" and o.add and o.child_module == "harness.child.run"
    bare = SweepOptions.from_args(argparse.Namespace(), Path("r"))  # a command without the flags: the defaults
    assert bare == SweepOptions(Path("r"))
    with pytest.raises(TypeError, match="no option colour"):
        SweepOptions.from_args(argparse.Namespace(), Path("r"), colour="red")


def test_options_refuse_an_unknown_executor_or_progress_mode() -> None:
    with pytest.raises(UserError, match="unknown executor 'slurm': use one of local, ray"):
        SweepOptions(Path("r"), executor="slurm").check()
    with pytest.raises(UserError, match="unknown progress mode 'loud'"):
        SweepOptions(Path("r"), progress="loud").check()
    assert SweepOptions("r").command_line()  # None: this process's own argv


def test_run_sweep_picks_its_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    local = make_executor(SweepOptions(Path("r")))
    assert isinstance(local, LocalExecutor) and local.name == "local"
    assert local.plan_warnings([]) == []
    from harness.sweep import ray_executor

    monkeypatch.setattr(ray_executor, "import_ray", lambda: object())
    ray = make_executor(SweepOptions(Path("r"), executor="ray", ray_address="local"))
    assert ray.name == "ray" and ray.manifest_fields() == {
        "executor": "ray", "ray_address": "local", "gpus": None, "gpu_baseline": None,
    }  # fmt: skip
    with pytest.raises(UserError, match="gpus and executor 'ray' do not mix"):
        make_executor(SweepOptions(Path("r"), executor="ray", gpus=[0]))


def _write(path: Path, key: str, **request: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    RunResult(key=key, label="l", status="ok", request=tiny_request("llama", **request), started_at="t").write(path)


def test_the_one_reader_sorts_each_run_file(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _write(runs / "a-aaaa.json", "a" * 64)
    _write(runs / "b-aaaa.json", "a" * 64)  # the same key again
    _write(runs / "c-cccc.json", "c" * 64)  # not in the plan
    _write(runs / "d-warm.json", "warmup-" + "a" * 64, warmup=True)
    (runs / "e-half.json").write_text('{"key": ', encoding="utf-8")
    kinds = [(f.path.name, f.kind) for f in scan_runs(runs, {"a" * 64})]
    assert kinds == [("a-aaaa.json", "run"), ("b-aaaa.json", "duplicate"), ("c-cccc.json", "stale"),
                     ("d-warm.json", "warmup"), ("e-half.json", "corrupt")]  # fmt: skip
    assert [f.kind for f in scan_runs(runs)][:3] == ["run", "duplicate", "run"]  # no plan: every key is of it
    corrupt = next(f for f in scan_runs(runs) if f.kind == "corrupt")
    assert corrupt.result is None and str(corrupt.error).startswith(str(runs / "e-half.json"))
    _write(tmp_path / "attempts" / "a-aaaa-1.json", "a" * 64)
    _write(tmp_path / "attempts" / "d-warm-1.json", "warmup-" + "a" * 64, warmup=True)
    assert [p.name for p, _ in read_attempts(tmp_path)] == ["a-aaaa-1.json"]


def test_the_manifest_read_once_for_both_sides(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) == (None, "missing")
    (tmp_path / "manifest.json").write_text("[1]", encoding="utf-8")
    assert read_manifest(tmp_path) == (None, "not a JSON object")
    (tmp_path / "manifest.json").write_text("{", encoding="utf-8")
    assert read_manifest(tmp_path) == (None, "unreadable (JSONDecodeError)")
    (tmp_path / "manifest.json").write_text('{"name": "x"}', encoding="utf-8")
    assert read_manifest(tmp_path) == ({"name": "x"}, None)
