"""`--set PATH=VALUE` on bench, sweep and run: any spec field, checked by the spec's own models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.config import SweepSpec, expand_sweep, load_candidates


def _captured(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> tuple[SweepSpec, list[Any]]:
    """The spec and requests a command line asks for (the sweep itself is not run)."""
    seen: list[SweepSpec] = []
    monkeypatch.setattr(cli.runs, "_sweep", lambda spec, source, args, **kw: seen.append(spec) or 0)
    assert cli.main(argv) == 0
    return seen[0], expand_sweep(seen[0], load_candidates())


def test_set_reaches_every_run_of_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    spec, reqs = _captured(
        monkeypatch,
        ["bench", "--model", "llama1B", "--weights", "shape", "--ranks", "8", "16",
         "--set", "train.learning_rate=1e-4", "--set", "lora.alpha=32", "--set", "generation.max_new_tokens=16",
         "--set", "lora.target_modules=[q_proj, v_proj]", "--set", "train.gradient_checkpointing=on",
         "--set", "data.prompt_template=### Q: {question} ### A:", "--set", "timeout_s=60",
         "--set", "quality_weights.chrf=2", "--set", "train.lr_scheduler=cosine"],
    )  # fmt: skip
    assert spec.timeout_s == 60 and spec.quality_weights == {"chrf": 2.0}
    assert [r.lora.rank for r in reqs] == [8, 16]
    for r in reqs:
        assert r.train.learning_rate == pytest.approx(1e-4)
        assert (r.lora.alpha, r.generation.max_new_tokens, r.lora.target_modules) == (32, 16, ["q_proj", "v_proj"])
        assert r.train.gradient_checkpointing is True and r.train.lr_scheduler == "cosine"
        assert r.data.prompt_template == "### Q: {question} ### A:"


def test_set_on_sweep_and_run_and_the_later_one_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _, reqs = _captured(
        monkeypatch,
        ["sweep", "benchmarks/cpu-default.yaml", "--set", "train.max_length=64", "--set", "base.train.max_length=96"],
    )
    assert len(reqs) == 3 and {r.train.max_length for r in reqs} == {96}
    _, (one,) = _captured(monkeypatch, ["run", "--model", "llama1B", "--set", "lora.dropout=0", "--set", "device=cpu"])
    assert one.lora.dropout == 0 and one.device == "cpu"


def test_set_pins_a_setting_an_axis_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    _, reqs = _captured(monkeypatch, ["bench", "--model", "llama1B", "--weights", "shape", "--ranks", "16", "32",
                                      "--set", "lora.rank=8"])  # fmt: skip
    assert [r.lora.rank for r in reqs] == [8]
    _, reqs = _captured(monkeypatch, ["bench", "--model", "llama1B", "--weights", "shape", "--ranks", "8",
                                      "--batch-sizes", "2", "4", "--set", "train.batch_size=1"])  # fmt: skip
    assert [r.train.batch_size for r in reqs] == [1] and reqs[0].varied == []


@pytest.mark.parametrize(
    ("sets", "expect"),
    [
        (["lora.alpah=3"], "--set lora.alpah: no such field; fields of lora: rank, alpha, dropout,"),
        (["trian.learning_rate=1e-4"], "--set trian: no such field; fields of the spec: name,"),
        (["train.learning_rate=abc"], "--set train.learning_rate=abc: Input should be a valid number"),
        (["lora.alpha=0"], "--set lora.alpha=0: Input should be greater than 0"),
        (["train.dtype=bf17"], "--set train.dtype=bf17: Input should be 'auto', 'bf16', 'fp16' or 'fp32'"),
        (["lora.alpha"], "--set lora.alpha: give PATH=VALUE"),
        (["candidate.name=x"], "--set candidate.name: candidate is set by the candidates axis"),
        (["lora.rank.x=1"], "--set lora.rank.x: lora.rank is a single value, not a group of fields"),
        (["quality_weights.fluency=1"], "field 'quality_weights': unknown quality weight 'fluency'"),
        (["axes.ranks=[0]"], "field 'axes.ranks': ranks must be > 0"),
    ],
)
def test_bad_set_is_one_line_exit_2_and_nothing_written(
    sets: list[str], expect: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["bench", "--model", "llama1B", "--weights", "shape", "--results-root", str(tmp_path)]
    for s in sets:
        argv += ["--set", s]
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and expect in err and "\n" not in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())
