"""--save-adapters: each ok run keeps its LoRA adapter (PEFT layout, safetensors) beside its result; the report
links the winner's; on by default for harness.bench with one model, off on the command line and for sweeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from harness import adapters, cli
from harness.config import RunRequest
from harness.keys import result_stem, run_key
from harness.sweep import SweepOptions, run_sweep
from harness.sweep.layout import SweepDir
from harness.sweep.outcome import PlannedRun, parent_result
from harness.sweep.progress import Reporter
from harness.sweep.recorder import Recorder
from tests.tiny import tiny_request


def _fake_adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in adapters.FILES:
        (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize(("status", "warmup", "kept"), [("ok", False, True), ("oom", False, False),
                                                         ("ok", True, False)])  # fmt: skip
def test_only_an_ok_run_keeps_its_adapter(tmp_path: Path, status: str, warmup: bool, kept: bool) -> None:
    layout = SweepDir(tmp_path / "sweep")
    layout.ensure()
    req = tiny_request(save_adapter=True, warmup=warmup)
    run = PlannedRun(1, 1, req, "k" * 64, result_stem(req, "k" * 64), 60)
    _fake_adapter(layout.scratch_dir(run.stem) / adapters.SCRATCH_NAME)
    Recorder(layout, Reporter("t", 1, 1, "quiet")).finish(run, parent_result(run, status, "test", wall_s=1.0), 1.0)
    saved = json.loads(layout.run_path(run.stem).read_text())
    assert (saved["adapter"] == f"adapters/{run.stem}") is kept
    assert (layout.root / "adapters" / run.stem / "adapter_model.safetensors").is_file() is kept
    assert not (layout.scratch_dir(run.stem) / adapters.SCRATCH_NAME).exists()  # moved or discarded


def test_keeping_an_adapter_is_not_in_the_run_key() -> None:
    keys = {run_key(tiny_request(save_adapter=s), "d" * 64, {}, None) for s in (False, True)}
    assert len(keys) == 1


def test_a_finished_run_without_its_adapter_runs_again_when_asked(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from tests.test_sweep import make_requests, make_spec

    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "fake")
    spec = make_spec([4])
    kw = dict(child_module="harness.child.fake", progress="quiet")
    first = run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, **kw))
    assert first.ran and first.results[0].adapter is None
    again = run_sweep(spec, make_requests(spec), SweepOptions(tmp_path, **kw))
    assert not again.ran  # not asked: kept
    asked = [r.model_copy(update={"save_adapter": True}) for r in make_requests(spec)]
    redo = run_sweep(spec, asked, SweepOptions(tmp_path, **kw))
    assert redo.ran == first.ran  # the same key, run again to save the adapter


def test_off_on_the_command_line_on_for_bench_with_one_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "save_adapter" not in cli._overrides(cli.build_parser().parse_args(["bench"]))
    assert cli._overrides(cli.build_parser().parse_args(["bench", "--save-adapters"]))["save_adapter"] is True
    monkeypatch.setenv("HARNESS_TEST_HOOKS", "1")
    monkeypatch.setenv("HARNESS_FAULTS", "fake")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "two.yaml"
    spec.write_text("name: two\nweights: shape\naxes: {candidates: [llama1B, gemma-2-2b-it], ranks: [16]}\n"
                    "base: {data: {eval_rows: 2}, train: {max_steps: 2}}\n")  # fmt: skip
    several = harness.bench(spec=str(spec), start="fresh")
    one = harness.bench(model="llama1B", weights="shape", ranks=[16], max_steps=2, prompts=2, start="fresh")
    for results, want in ((several, False), (one, True)):
        requests = [json.loads(p.read_text())["request"] for p in (results.folder / "runs").glob("*.json")]
        assert requests and all(r["save_adapter"] is want for r in requests)


@pytest.mark.slow
def test_a_tiny_models_adapters_from_the_api_and_the_command_line(tmp_path: Path, shape_cache: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A real fine-tune of a tiny model folder, once each way: the same files, and adapters peft loads."""
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from tests.test_own_machine import tiny_model_folder

    folder = tiny_model_folder(tmp_path / "tiny-chat")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    small = ["--ranks", "4", "--max-steps", "2", "--train-rows", "8", "--prompts", "2", "--max-new-tokens", "4",
             "--device", "cpu"]  # fmt: skip
    assert cli.main(["bench", "--model", str(folder), *small, "--save-adapters", "--results-root", "by-cli"]) == 0
    got = harness.bench(model=folder, ranks=[4], max_steps=2, train_rows=8, prompts=2, max_new_tokens=4,
                        device="cpu", results_root="by-api")  # fmt: skip
    assert got.ok
    by_cli = next((tmp_path / "by-cli").iterdir())
    runs = {}
    for where in (by_cli, got.folder):
        (path,) = (where / "runs").glob("*.json")
        runs[where] = json.loads(path.read_text())
        run = runs[where]
        assert run["status"] == "ok" and run["adapter"] == f"adapters/{path.stem}"
        saved = where / run["adapter"]
        assert set(adapters.FILES) <= {p.name for p in saved.iterdir()}  # and peft's model card, README.md
        config = json.loads((saved / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str(folder.resolve()) and config["r"] == 4
        assert run["one_time"]["save_adapter_s"] > 0

        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(folder), saved)
        tensors = load_file(saved / "adapter_model.safetensors")
        params = dict(model.named_parameters())
        name = next(k for k in tensors if "lora_B" in k)
        loaded = next(v for k, v in params.items() if k.replace(".default", "") == name)
        assert loaded.abs().sum() > 0 and (loaded == tensors[name]).all()  # trained (lora_B starts at zero)
    (a, b) = runs.values()
    assert (a["key"], a["request"]) == (b["key"], b["request"])
    # the report links the winner's adapter; results.csv names it
    assert f'href="{b["adapter"]}/"' in (got.folder / "report.html").read_text(encoding="utf-8")
    assert list(got.df["adapter"]) == [b["adapter"]]
    assert RunRequest.model_validate(b["request"]).save_adapter
