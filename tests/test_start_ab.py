"""benchmarks/start-ab.py: fork-vs-fresh runs of one cell side by side, with a verdict only where there is an interval."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

spec = importlib.util.spec_from_file_location("start_ab", REPO_ROOT / "benchmarks" / "start-ab.py")
start_ab = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
spec.loader.exec_module(start_ab)  # type: ignore[union-attr]


def _run(folder: Path, name: str, steady: float, repeat: int) -> None:
    d = {
        "status": "ok", "label": "m r16 hf none shape", "started_at": f"2026-12-02T06:0{repeat}:00",
        "request": {"repeat": repeat, "warmup": False}, "effective": {"max_steps": 50},
        "steps": {"steady_mean_s": steady, "burn_in_s": 10.0},
        "generation": [{"stage": "tuned", "latency_s_per_answer": 3.0}],
        "one_time": {"before_load_s": 5.0},
        "phases": {"train": {"wall_s": 20.0, "nvml_process_peak_mib": 8000.0}},
        "environment": {"env_vars": {"HARNESS_START": "fork"} if folder.name == "fork" else {}},
    }  # fmt: skip
    (folder / "s" / "runs").mkdir(parents=True, exist_ok=True)
    (folder / "s" / "runs" / f"{name}.json").write_text(json.dumps(d))


@pytest.mark.parametrize(("fork_steady", "verdict"), [((0.20, 0.21, 0.19), "no difference measured"),
                                                      ((0.29, 0.30, 0.28), "fork higher")])  # fmt: skip
def test_fork_and_fresh_compared_with_an_interval(tmp_path: Path, capsys, fork_steady, verdict) -> None:
    for i, (a, b) in enumerate(zip((0.20, 0.21, 0.19), fork_steady, strict=True)):
        _run(tmp_path / "fresh", f"r{i}", a, i)
        _run(tmp_path / "fork", f"r{i}", b, i)
    assert start_ab.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "recorded settings identical in all runs: True" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("steady s/step"))
    assert line.endswith(verdict)
    assert next(ln for ln in out.splitlines() if ln.startswith("train NVML")).endswith("no difference measured")


def test_one_side_missing_is_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    _run(tmp_path / "fresh", "r0", 0.2, 0)
    (tmp_path / "fork" / "s" / "runs").mkdir(parents=True)
    (tmp_path / "fork" / "s" / "runs" / "torn.json").write_text('{"status": "o')  # half-written
    assert start_ab.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "torn.json: skipped, not a readable run file" in err and "need ok runs under both" in err


def test_a_run_without_a_figure_shows_a_dash(tmp_path: Path, capsys) -> None:
    for i in range(2):
        _run(tmp_path / "fresh", f"r{i}", 0.2, i)
        _run(tmp_path / "fork", f"r{i}", 0.2, i)
    d = json.loads((tmp_path / "fork" / "s" / "runs" / "r0.json").read_text())
    d["generation"] = []  # no tuned answers
    (tmp_path / "fork" / "s" / "runs" / "r0.json").write_text(json.dumps(d))
    assert start_ab.main([str(tmp_path)]) == 0


def test_a_fork_folder_whose_runs_started_fresh_is_refused(tmp_path: Path, capsys) -> None:
    """If the fork server could not start, the sweep ran fresh interpreters: no comparison then."""
    for i in range(2):
        _run(tmp_path / "fresh", f"r{i}", 0.2, i)
        _run(tmp_path / "fork", f"r{i}", 0.2, i)
    d = json.loads((tmp_path / "fork" / "s" / "runs" / "r1.json").read_text())
    d["environment"] = {"env_vars": {}}
    (tmp_path / "fork" / "s" / "runs" / "r1.json").write_text(json.dumps(d))
    assert start_ab.main([str(tmp_path)]) == 2
    assert "1 run(s) did not run as 'fork'" in capsys.readouterr().err


def test_sampler_sides_compare_answers_and_refuse_a_run_at_another_period(tmp_path: Path, capsys) -> None:
    """--sides ms5 ms50: the sampler A/B; each run must have recorded its period (HARNESS_SAMPLER_MS)."""
    for i in range(3):
        for ms, answer in (("5", 3.0 + 0.01 * i), ("50", 2.7 + 0.01 * i)):
            _run(tmp_path / f"ms{ms}", f"r{i}", 0.2, i)
            f = tmp_path / f"ms{ms}" / "s" / "runs" / f"r{i}.json"
            d = json.loads(f.read_text())
            d["environment"] = {"env_vars": {"HARNESS_SAMPLER_MS": ms}}
            d["generation"] = [{"stage": "tuned", "latency_s_per_answer": answer}]
            f.write_text(json.dumps(d))
    assert start_ab.main([str(tmp_path), "--sides", "ms5", "ms50"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("answer s"))
    assert "ms50/ms5 0.9" in line and line.endswith("ms50 lower")
    f = tmp_path / "ms50" / "s" / "runs" / "r0.json"
    d = json.loads(f.read_text())
    d["environment"] = {"env_vars": {}}  # ran at the default period: not this side
    f.write_text(json.dumps(d))
    assert start_ab.main([str(tmp_path), "--sides", "ms5", "ms50"]) == 2
    assert "did not run as 'ms50'" in capsys.readouterr().err
