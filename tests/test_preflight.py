"""The one preflight (harness.preflight): the data part the parent and the child share, the capability part the
child runs, and the one rule for what `--model` names (harness.model_spec.model_ref)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import preflight
from harness.config import REPO_ROOT, DataSettings
from harness.errors import UserError
from harness.model_spec import model_ref
from tests.tiny import tiny_request

KNOWN = [("llama1B", "Yebin46/llama1B"), ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct")]


def test_data_splits_loads_selects_and_checks_the_template() -> None:
    d = DataSettings(path=str(REPO_ROOT / "data" / "sample_qa.csv"), train_rows=4, eval_rows=2, grade_rows=1)
    s = preflight.data_splits(d, template="Q: {question} A:")
    assert (len(s.train), len(s.eval), len(s.grade)) == (4, 2, 1)
    with pytest.raises(UserError, match="no passage"):
        preflight.data_splits(d, template="{context} {question}")
    with pytest.raises(UserError, match="lower --train-rows or --prompts"):
        preflight.data_splits(d.model_copy(update={"train_rows": 1000}))


def test_run_data_is_the_childs_data_with_the_candidates_template() -> None:
    req = tiny_request("llama")
    got = preflight.run_data(req)
    assert got.template == (req.data.prompt_template or req.candidate.prompt_template)
    assert len(got.splits.train) == req.data.train_rows and got.loaded.examples


def test_capability_is_the_backends_check_on_the_gpu_at_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    assert preflight.capability(tiny_request("llama")) is None  # plain LoRA on the CPU
    monkeypatch.setattr("harness.backends.capability.gpu_capability", lambda index=0: None)
    assert (
        preflight.capability(tiny_request("llama", device="cuda")) == "device cuda requested but no CUDA GPU is visible"
    )
    monkeypatch.setattr("harness.backends.capability.gpu_capability", lambda index=0: ("Tesla M6000", (5, 2)))
    assert preflight.capability(tiny_request("llama", device="cuda", backend="unsloth")) is not None


def test_model_ref_one_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert model_ref("llama1B", KNOWN).kind == "candidate"
    got = model_ref("Yebin46/llama1B", KNOWN)
    assert (got.kind, got.name) == ("candidate", "llama1B")  # a candidate's hub id is that candidate
    assert model_ref("org/other", KNOWN).kind == "hub"
    assert model_ref("no such thing!", KNOWN).kind == "unknown"
    (tmp_path / "mine").mkdir()
    got = model_ref("mine", KNOWN)
    assert got.kind == "folder" and got.folder == Path("mine")
    (tmp_path / "Yebin46" / "llama1B").mkdir(parents=True)  # a folder wins over a candidate's hub id
    assert model_ref("Yebin46/llama1B", KNOWN).kind == "folder"


def test_the_memory_model_resolves_models_by_the_same_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.memory import source

    assert source.resolve("llama1B").candidate["name"] == "llama1B"
    assert source.resolve("Yebin46/llama1B").candidate["name"] == "llama1B"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"model_type": "llama"}')
    monkeypatch.chdir(tmp_path)
    got = source.resolve("m")
    assert got.candidate is None and got.config["model_type"] == "llama" and got.label == "m (config.json)"
