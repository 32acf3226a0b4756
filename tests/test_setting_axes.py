"""Sweep axes for batch size, max_length, gradient checkpointing and dtype (harness/setting_axes.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.config import REPO_ROOT, SweepSpec, expand_sweep, load_candidates, load_sweep_spec, make_spec
from harness.errors import UserError
from harness.keys import result_stem, run_key
from tests.report_fixtures import SMOL, make_run, write_results

# A fixed environment: the keys below depend only on the request (candidate entry, spec, harness code).
PACKAGES = {"harness-measurement": "7", "torch": "2.11.0", "transformers": "5.17.0"}

# benchmarks/cpu-default.yaml's runs, computed with the code before the setting axes existed. A change to
# that spec or to candidates.yaml's smollm2-135m entry changes them on purpose; a new request field must not.
CPU_DEFAULT = [
    ("c8ab1ec2e47f96479a55781fbba21daadfe0309c9642eefdef2cc2dad5c3f9dd", "smollm2-135m-r16-hf-none-c8ab1ec2e47f",
     "smollm2-135m r16 hf none real"),
    ("c331fd90f8c3ffc2aaa9b63dc4975fcf93e455c3ea12d1148cb547d0ed66e26c", "smollm2-135m-r32-hf-none-c331fd90f8c3",
     "smollm2-135m r32 hf none real"),
    ("edeea212b6fed6ad85314c27cd3dfecaea76a325e1055c7f1bb5aaa878a10ce9", "smollm2-135m-r64-hf-none-edeea212b6fe",
     "smollm2-135m r64 hf none real"),
]  # fmt: skip


def _keys(spec: SweepSpec) -> list[tuple[str, str, str]]:
    out = []
    for r in expand_sweep(spec, load_candidates()):
        k = run_key(r, "data-sha", PACKAGES, "Tesla T4")
        out.append((k, result_stem(r, k), r.label))
    return out


def _spec(**axes: Any) -> SweepSpec:
    return make_spec({"name": "s", "weights": "shape", "axes": {"candidates": ["llama1B"], **axes}}, "s")


def test_shipped_spec_keys_stems_and_labels_are_unchanged() -> None:
    assert _keys(load_sweep_spec(REPO_ROOT / "benchmarks" / "cpu-default.yaml")) == CPU_DEFAULT


def test_no_shipped_spec_names_a_setting_in_its_runs() -> None:
    for p in sorted((REPO_ROOT / "benchmarks").glob("*.yaml")):
        if p.name == "gpu-prices.yaml":
            continue
        for r in expand_sweep(load_sweep_spec(p), load_candidates()):
            assert r.varied == [] and "varied" not in r.key_fields(), p.name


def test_setting_axes_expand_into_each_request_key_stem_and_label() -> None:
    spec = _spec(batch_sizes=[2, 4], max_lengths=[64, 128], gradient_checkpointing=[True, False], dtypes=["fp32"])
    reqs = expand_sweep(spec, load_candidates())
    assert len(reqs) == 8
    combos = {(r.train.batch_size, r.train.max_length, r.train.gradient_checkpointing, r.train.dtype) for r in reqs}
    assert combos == {(b, m, g, "fp32") for b in (2, 4) for m in (64, 128) for g in (True, False)}
    keys = _keys(spec)
    assert len({k for k, _, _ in keys}) == 8 and len({s for _, s, _ in keys}) == 8
    first_stem, first_label = keys[0][1], keys[0][2]
    assert first_stem.startswith("llama1B-r16-hf-none-b2-len64-gc-") and "fp32" not in first_stem  # one dtype: unnamed
    assert first_label == "llama1B r16 hf none b2 len64 gc shape"
    assert "no-gc" in keys[1][1]


def test_one_value_axis_is_the_base_setting() -> None:
    """An axis with one value names nothing: the run is the run with that setting in base."""
    via_axis = _keys(_spec(batch_sizes=[2]))
    via_base = _keys(make_spec({"name": "s", "weights": "shape", "axes": {"candidates": ["llama1B"]},
                                "base": {"train": {"batch_size": 2}}}, "s"))  # fmt: skip
    assert via_axis == via_base
    assert _keys(_spec()) != via_base


@pytest.mark.parametrize(
    ("axes", "expect"),
    [
        ({"dtypes": ["bf17"]}, "field 'axes.dtypes': 'bf17' is not a train.dtype"),
        ({"batch_sizes": [0]}, "field 'axes.batch_sizes': 0 is not a train.batch_size"),
        ({"max_lengths": []}, "field 'axes.max_lengths'"),
        ({"gradient_checkpointing": ["sometimes"]}, "is not a train.gradient_checkpointing"),
    ],
)
def test_bad_axis_values_name_the_field(axes: dict[str, Any], expect: str) -> None:
    with pytest.raises(UserError, match=expect):
        _spec(**axes)


def _captured(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> list[Any]:
    """The requests a command line asks for (the sweep itself is not run)."""
    seen: list[SweepSpec] = []
    monkeypatch.setattr(cli.runs, "_sweep", lambda spec, source, args, **kw: seen.append(spec) or 0)
    assert cli.main(argv) == 0
    return expand_sweep(seen[0], load_candidates())


def test_flags_on_bench_run_and_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    reqs = _captured(monkeypatch, ["bench", "--model", "llama1B", "--weights", "shape", "--ranks", "8",
                                   "--batch-sizes", "2", "4", "--gradient-checkpointing", "on", "off"])  # fmt: skip
    assert [(r.train.batch_size, r.train.gradient_checkpointing) for r in reqs] == [
        (2, True),
        (2, False),
        (4, True),
        (4, False),
    ]
    assert reqs[0].label == "llama1B r8 hf none b2 gc shape"
    # the single-value spellings `fits` uses
    (one,) = _captured(monkeypatch, ["run", "--model", "llama1B", "--batch", "2", "--max-length", "64",
                                     "--checkpointing", "unsloth", "--dtype", "fp16"])  # fmt: skip
    assert (one.train.batch_size, one.train.max_length, one.train.gradient_checkpointing, one.train.dtype) == (
        2, 64, "unsloth", "fp16"
    )  # fmt: skip
    assert one.varied == []
    reqs = _captured(monkeypatch, ["sweep", "benchmarks/cpu-default.yaml", "--max-lengths", "64", "128"])
    assert len(reqs) == 6 and {r.train.max_length for r in reqs} == {64, 128}
    reqs = _captured(monkeypatch, ["bench", "--dtypes", "fp32", "bf16"])  # the embedded default
    assert [r.train.dtype for r in reqs[:2]] == ["fp32", "bf16"] and reqs[0].varied == ["dtype"]


def test_bad_flag_value_is_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = cli.main(["bench", "--model", "llama1B", "--batch-sizes", "2", "x", "--results-root", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --batch-sizes x:") and "train.batch_size" in err and "\n" not in err
    assert not any(tmp_path.iterdir())


def test_report_tables_tell_runs_apart_by_the_varying_setting(tmp_path: Path) -> None:
    from harness.report import build_report
    from harness.report.build import analyse_folder
    from harness.report.load import load_results

    runs = [make_run(SMOL, 16, device="cpu", gpu=None, seed=s) for s in (0, 1)]
    runs[1].request.train.batch_size = 2
    runs[1].key = "f" * 64
    folder = write_results(tmp_path / "sweep", runs)
    labels = sorted(r.label for r in load_results(folder).runs)
    assert labels == [f"{SMOL['name']} r16 hf none b2", f"{SMOL['name']} r16 hf none b4"]
    cells = analyse_folder(folder).cells
    assert [c.config for c in cells] == ["r16 hf none b2", "r16 hf none b4"]  # two configurations, in order
    answer = build_report(folder).answer
    assert "batch size 2" in answer or "batch size 4" in answer
    # the same setting everywhere: nothing named
    same = write_results(tmp_path / "same", [make_run(SMOL, r, device="cpu", gpu=None) for r in (16, 32)])
    assert {r.label for r in load_results(same).runs} == {f"{SMOL['name']} r16 hf none", f"{SMOL['name']} r32 hf none"}


def test_deciding_prints_the_setting_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = [make_run(SMOL, 16, device="cpu", gpu=None, seed=s, quality=q) for s, q in ((0, 0.3), (1, 0.8))]
    runs[1].request.train.batch_size = 2
    runs[1].key = "f" * 64
    folder = write_results(tmp_path / "sweep", runs)
    assert cli.main(["deciding", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("--batch-sizes" in line for line in lines)
    args = cli.build_parser().parse_args(["bench", *lines[0].split()])
    assert isinstance(args, argparse.Namespace) and args.batch_sizes in (["2"], ["4"])
