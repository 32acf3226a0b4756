"""The Python API: harness.bench and harness.report are the command line's bench and report, from a notebook.

The runs here are the test hook's fake runs (HARNESS_TEST_HOOKS=1, HARNESS_FAULTS=fake): the real child
module, which hands the run to the hook before loading anything, so the plan, preflight, keys, files and
report are the real ones at a second per run.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import harness
from harness import cli
from harness.errors import UserError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def fake_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "fake")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _runs(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in (folder / "runs").glob("*.json")}


def test_bench_writes_what_the_command_line_writes(fake_runs: Path) -> None:
    common = ["--model", "llama1B", "--weights", "shape", "--ranks", "16", "32", "--max-steps", "2", "--prompts", "2"]
    # --save-adapters: harness.bench keeps the adapters with one model (the fake runs save none)
    assert cli.main(["bench", *common, "--start", "fresh", "--save-adapters", "--results-root", "by-cli"]) == 0
    got = harness.bench(model="llama1B", weights="shape", ranks=[16, 32], max_steps=2, prompts=2, start="fresh",
                        results_root="by-api")  # fmt: skip

    by_cli, by_api = fake_runs / "by-cli" / "bench-llama1B-shape", fake_runs / "by-api" / "bench-llama1B-shape"
    assert got.folder.resolve() == by_api.resolve() and got.ok and got.code == 0
    cli_runs, api_runs = _runs(by_cli), _runs(by_api)
    assert len(cli_runs) == 2 and sorted(cli_runs) == sorted(api_runs)  # the same stems, so the same keys
    for stem, run in cli_runs.items():
        assert api_runs[stem]["key"] == run["key"] and api_runs[stem]["request"] == run["request"]
        assert run["request"]["save_adapter"] is True
    cli_manifest = json.loads((by_cli / "manifest.json").read_text(encoding="utf-8"))
    api_manifest = json.loads((by_api / "manifest.json").read_text(encoding="utf-8"))
    assert api_manifest["spec"] == cli_manifest["spec"] and api_manifest["runs"] == cli_manifest["runs"]

    # the call is the recorded command, not the interpreter's argv
    call = (
        "harness.bench(model='llama1B', ranks=[16, 32], weights='shape', max_steps=2, prompts=2, "
        "start='fresh', results_root='by-api')"
    )  # fmt: skip  (model, data, ranks first, as in the signature)
    assert api_manifest["command"] == call and api_manifest["invocations"][-1]["command"] == call
    assert call in html.unescape((by_api / "report.html").read_text(encoding="utf-8"))

    # the report's own table, answer and page
    assert list(got.df["key"].sort_values()) == sorted(r["key"] for r in api_runs.values())
    assert list(got.df.columns) == list(__import__("pandas").read_csv(by_api / "results.csv").columns)
    assert got.answer and got.answer == got.files.answer
    shown = got._repr_html_()
    assert shown.count("<iframe") == 1 and 'srcdoc="' in shown
    inner = shown.split('srcdoc="', 1)[1].split('"', 1)[0]
    assert "<" not in inner and html.unescape(inner) == got.html  # the whole page, escaped into the attribute
    assert "runs=2" in repr(got)


def test_report_rebuilds_from_the_result_files(fake_runs: Path) -> None:
    # on the CPU: no memory prediction per team GPU (the report command's, which imports torch)
    first = harness.bench(model="llama1B", weights="shape", ranks=[16], max_steps=2, prompts=2, start="fresh",
                          device="cpu")  # fmt: skip
    (first.folder / "report.html").unlink()
    importlib.import_module("harness.report.build")  # binds harness.report to the package: still the call

    again = harness.report(first.folder, job="40x1@4")
    assert again.files.html.is_file() and list(again.df["key"]) == list(first.df["key"])
    with pytest.raises(UserError, match="not a results folder"):
        harness.report(fake_runs / "nowhere")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (dict(model="llama1B", modl="x"), "unknown setting 'modl'"),
        (dict(model="llama1B", ranks=["a"]), "argument ranks: invalid int value: 'a'"),
        (dict(model="llama1B", device="tpu"), "argument device: invalid choice: 'tpu'"),
        (dict(model="llama1B", rerun="yes"), "rerun='yes': give True or False"),
        (dict(model="llama1B", train_rows=60, prompts=25), "lower --train-rows or --prompts"),
    ],
)
def test_bad_input_is_the_commands_one_line_error(fake_runs: Path, call: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as e:
        harness.bench(**call, weights="shape")
    assert message in str(e.value) and "\n" not in str(e.value)
    assert not (fake_runs / "results").exists()  # nothing written


def test_import_harness_stays_light() -> None:
    code = "import harness, sys; harness.bench; harness.report; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert out.stdout.split() == ["False", "False"], out.stderr
