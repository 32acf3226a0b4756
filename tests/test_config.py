"""Every shipped sweep spec validates; bad specs and bad command lines end in one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli, preflight
from harness.config import REPO_ROOT, expand_sweep, load_candidates, load_sweep_spec
from harness.errors import UserError

SPECS = sorted(p for p in (REPO_ROOT / "benchmarks").glob("*.yaml") if p.name != "gpu-prices.yaml")


def test_the_specs_the_issues_ask_for_exist() -> None:
    names = {p.stem for p in SPECS}
    assert {"cpu-default", "seed-study", "ohlora", "unsloth-tutorial", "qlora-korquad", "unsloth-vs-plain"} <= names


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_validates_and_says_how_to_run_it(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# make bench") or first.startswith("# harness"), first
    spec = load_sweep_spec(path)
    reqs = expand_sweep(spec, load_candidates(), str(path))
    ax = spec.axes
    settings = len(ax.setting_cells()) * max(1, len(ax.emulate))
    assert len(reqs) == len(ax.candidates) * len(ax.ranks) * len(ax.backends) * len(ax.quants) * settings
    assert spec.name == path.stem


def test_seed_study_is_the_teams_study() -> None:
    spec = load_sweep_spec(REPO_ROOT / "benchmarks" / "seed-study.yaml")
    reqs = expand_sweep(spec, load_candidates())
    assert len(reqs) == 21 and {r.lora.rank for r in reqs} == {16, 32, 64}
    r = reqs[0]
    assert (r.data.train_rows, r.data.eval_rows, r.train.batch_size, r.train.epochs) == (20, 25, 4, 10)
    assert r.generation.max_new_tokens == 80 and r.backend == "hf" and r.quant == "none"
    assert r.data.path == "data/sample_qa.csv"  # the team's file is passed with DATA= / --data, never shipped


def test_ohlora_compares_backends_on_the_same_work() -> None:
    spec = load_sweep_spec(REPO_ROOT / "benchmarks" / "ohlora.yaml")
    hf, un = expand_sweep(spec, load_candidates())
    assert (hf.backend, un.backend) == ("hf", "unsloth")
    for part in ("data", "train", "lora", "generation"):
        assert getattr(hf, part) == getattr(un, part), part


def _spec(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = "name: s\naxes:\n  candidates: [llama1B]\n  ranks: [16]\n"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("name: s\naxes: [unclosed\n", "line 3, column 1: malformed YAML"),
        ("name: s\naxes:\n  candidates: [llama1B]\n  ranks: [0]\n", "field 'axes.ranks': ranks must be > 0"),
        ("name: s\naxes:\n  candidates: [llama1B]\n  backends: [deepspeed]\n", "field 'axes.backends.0'"),
        ("name: s\naxes:\n  candidates: [llama1B]\n  quants: [int3]\n", "field 'axes.quants.0'"),
        ("name: ../x\naxes:\n  candidates: [llama1B]\n", "field 'name'"),
        (GOOD + "bogus: 1\n", "field 'bogus': Extra inputs are not permitted"),
    ],
)
def test_bad_specs_name_the_file_and_field(tmp_path: Path, text: str, expect: str) -> None:
    p = _spec(tmp_path, text)
    with pytest.raises(UserError) as e:
        load_sweep_spec(p)
    msg = str(e.value)
    assert str(p) in msg and expect in msg and "\n" not in msg


def test_unknown_candidate_lists_the_known_ones(tmp_path: Path) -> None:
    spec = load_sweep_spec(_spec(tmp_path, "name: s\naxes:\n  candidates: [gpt-5]\n"))
    with pytest.raises(UserError) as e:
        expand_sweep(spec, load_candidates())
    assert "unknown candidate 'gpt-5'" in str(e.value) and "gemma-2-2b-it" in str(e.value)


def test_rank_larger_than_hidden_size(tmp_path: Path) -> None:
    spec = load_sweep_spec(_spec(tmp_path, "name: s\naxes:\n  candidates: [smollm2-135m]\n  ranks: [1024]\n"))
    with pytest.raises(UserError) as e:
        expand_sweep(spec, load_candidates(), "s.yaml")
    assert "lora.rank 1024 is larger than smollm2-135m's hidden size 576" in str(e.value)


def test_unknown_quality_weight_fails_when_the_spec_loads(tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        load_sweep_spec(_spec(tmp_path, GOOD + "quality_weights: {fluency: 1}\n"))
    assert "fluency" in str(e.value)


# ---------------------------------------------------------------- command line


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["bench", "--model", "nope"], "unknown candidate 'nope'"),
        (["bench", "--model", "llama1B", "--ranks", "0"], "ranks must be > 0"),
        (["bench", "--model", "llama1B", "--data", "missing.csv"], "missing.csv"),
        (["bench", "--spec", "benchmarks/none.yaml"], "file not found"),
        (["run", "--model", "llama1B", "--rank", "4096"], "larger than llama1B's hidden size 2048"),
        (["sweep", "benchmarks/cpu-default.yaml", "--gpus", "a,b"], "--gpus 'a,b'"),
        (["report", "/nonexistent"], "not a results folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], expect: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, err = _cli([*args, *(["--results-root", str(tmp_path)] if args[0] != "report" else [])], capsys)
    assert code == 2
    assert err.startswith("error: ") and expect in err and "\n" not in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_data_file_without_a_needed_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("index,data_type,question\n0,train,hi\n", encoding="utf-8")
    out = tmp_path / "out"
    code, err = _cli(["bench", "--model", "llama1B", "--data", str(bad), "--results-root", str(out)], capsys)
    assert code == 2 and str(bad) in err and "input_data" in err
    assert not out.exists()


def test_candidate_that_needs_remote_code_asks_for_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    cands = load_candidates()
    c = cands.candidates[0].model_copy(update={"trust_remote_code": True})
    cands.candidates[0] = c
    monkeypatch.setattr(preflight, "load_candidates", lambda *a: cands)
    code, err = _cli(["bench", "--model", c.name, "--results-root", str(tmp_path)], capsys)
    assert code == 2 and "--trust-remote-code" in err


def test_help_and_list_run_as_a_module() -> None:
    out = subprocess.run([sys.executable, "-m", "harness", "--help"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert out.returncode == 0 and "harness list" in out.stdout
    out = subprocess.run([sys.executable, "-m", "harness", "list"], capture_output=True, text=True, cwd=REPO_ROOT,
                         env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0
    for name in ("gemma-2-2b-it", "KoAlpaca-KoRWKV-1.5B", "smollm2-135m", "40.43"):
        assert name in out.stdout


def test_bad_yaml_through_the_cli_has_no_traceback(tmp_path: Path) -> None:
    p = _spec(tmp_path, "name: s\naxes: [unclosed\n")
    out = subprocess.run([sys.executable, "-m", "harness", "sweep", str(p)], capture_output=True, text=True,
                         cwd=REPO_ROOT)  # fmt: skip
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "malformed YAML" in out.stderr and "Traceback" not in out.stderr
