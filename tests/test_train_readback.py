"""`read_effective` reads what the trainer really did, from real tiny SFTTrainers (CPU), never from the request.

Each test builds the run's own path (shape weights, the hf backend's load and adapter, `build_trainer`),
then changes one real object the way a backend or a library could, and checks the read-back sees it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from harness import data as data_mod
from harness import weights
from harness.backends.hf import HF
from harness.child import readback, train
from harness.config import RunRequest
from tests.tiny import tiny_request


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    path = data_mod.resolve_data_path("data/sample_qa.csv")
    ex = data_mod.load_examples(path, "auto")
    return [{"prompt": f"### 질문: {e.question} ### 답변:", "completion": (e.answer or "") + "</s>"} for e in ex[:20]]


def _trainer(req: RunRequest, rows: list[dict[str, str]], tmp_path: Path, before_build: Any = None) -> Any:
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    backend = HF()
    model, tok, _ = backend.load(req, w, "cpu", torch.float32)
    model, _ = backend.add_adapter(model, req)
    if before_build is not None:
        before_build(model)
    timer = train.StepTimer(cuda=False)
    return train.build_trainer(model, tok, rows, req, tmp_path / "out", "cpu", torch.float32, timer)


def _req(**train_over: Any) -> RunRequest:
    t = {"max_steps": None, "epochs": 1, "batch_size": 2, "grad_accum": 1, **train_over}
    return tiny_request("llama", data={"train_rows": 20}, train=t)


@pytest.mark.slow  # 30 optimizer steps, 100 micro-batches
def test_expected_steps_take_the_trainers_ceiling(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    """20 rows, batch 2, accumulation 4, 10 epochs: 10 micro-batches an epoch, 3 optimizer steps (4+4+2): 30 steps."""
    req = _req(epochs=10, batch_size=2, grad_accum=4)
    assert train.expected_steps(20, req) == 30
    tr = _trainer(req, rows, tmp_path)
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.global_steps == 30
    assert eff.grad_accum == 4 and eff.per_device_batch == 2 and eff.effective_batch == 8
    assert eff.mismatches == [], eff.mismatches


def test_checkpointing_requested_but_never_enabled_is_caught(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(gradient_checkpointing=True, max_steps=1)

    def refuse(model: Any) -> None:  # a model that ignores the trainer's request, as some remote-code models do
        model.get_base_model().gradient_checkpointing_enable = lambda **kw: None

    tr = _trainer(req, rows, tmp_path, before_build=refuse)
    assert tr.args.gradient_checkpointing is True  # the trainer was asked
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.gradient_checkpointing is False
    assert any(m.startswith("gradient_checkpointing: requested True") for m in eff.mismatches), eff.mismatches


def test_checkpointing_enabled_reads_true(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(gradient_checkpointing=True, max_steps=1)
    tr = _trainer(req, rows, tmp_path)
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.gradient_checkpointing is True and eff.mismatches == [], eff.mismatches


@pytest.mark.parametrize(("offloaded", "read"), [(True, "unsloth"), (False, True)])
def test_unsloth_checkpointing_is_read_from_its_mark(
    rows: list, tmp_path: Path, shape_cache: Path, offloaded: bool, read: bool | str
) -> None:
    """Unsloth's "unsloth" mode turns the layers' checkpointing on and marks the model offloaded; plain on is not it."""
    req = _req(gradient_checkpointing="unsloth", max_steps=1)

    def as_unsloth_does(model: Any) -> None:
        base = model.get_base_model()
        base.gradient_checkpointing_enable()
        if offloaded:
            base.model._offloaded_gradient_checkpointing = True

    tr = _trainer(req, rows, tmp_path, before_build=as_unsloth_does)
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.gradient_checkpointing == read
    assert any(m.startswith("gradient_checkpointing") for m in eff.mismatches) is (read != "unsloth")


def test_dtype_is_read_from_the_parameters(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(max_steps=1, dtype="fp32")
    tr = _trainer(req, rows, tmp_path, before_build=lambda m: m.get_base_model().to(torch.bfloat16))
    eff = readback.read_effective(tr, req, 20, {"dtype": "fp32"})  # what the run asked for is not what it reads
    assert eff.dtype == "bf16" and eff.trainable_dtype == "bf16"
    assert eff.frozen_dtypes is not None and set(eff.frozen_dtypes) == {"bf16"}
    assert any(m.startswith("dtype: requested fp32") for m in eff.mismatches), eff.mismatches


def test_batch_size_is_read_from_the_dataloader(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(max_steps=1, batch_size=2)
    tr = _trainer(req, rows, tmp_path)
    tr._train_batch_size = 1  # what auto_find_batch_size does after an OOM; args still say 2
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert tr.args.per_device_train_batch_size == 2
    assert eff.per_device_batch == 1
    assert "per_device_batch: requested 2, trainer used 1" in eff.mismatches


def test_optimizer_and_lr_are_read_from_the_built_optimizer(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(max_steps=1, learning_rate=2e-4, optimizer="adamw_torch")
    tr = _trainer(req, rows, tmp_path)
    params = [p for p in tr.model.parameters() if p.requires_grad]
    tr.optimizer = torch.optim.SGD(params, lr=0.1)  # a trainer that keeps an optimizer it was handed
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.optimizer == "torch.optim.sgd.SGD" and eff.learning_rate == pytest.approx(0.1)
    text = "; ".join(eff.mismatches)
    assert "optimizer: requested adamw_torch (torch.optim.adamw.AdamW), trainer built torch.optim.sgd.SGD" in text
    assert "learning_rate: requested 0.0002, optimizer has 0.1" in text


def test_optimizer_as_requested_is_no_mismatch(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(max_steps=2, learning_rate=3e-4)
    tr = _trainer(req, rows, tmp_path)
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.optimizer == "torch.optim.adamw.AdamW" and eff.learning_rate == pytest.approx(3e-4)
    assert eff.loss_type == "nll" and eff.completion_only_loss is True and eff.packing is False
    assert eff.padding == "longest in batch" and eff.padding_free is False
    assert eff.mismatches == [], eff.mismatches


def test_loss_type_is_read_from_the_model(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    req = _req(max_steps=1, loss_type="chunked_nll")
    tr = _trainer(req, rows, tmp_path)
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.loss_type == "chunked_nll"
    # a backend that puts its own forward back (Unsloth patches forwards) undoes trl's chunked loss
    base = tr.model.get_base_model()
    base.forward = type(base).forward.__get__(base)
    eff = readback.read_effective(tr, req, 20, {})
    assert eff.loss_type == "nll"
    assert any(m.startswith("loss_type: requested chunked_nll") for m in eff.mismatches), eff.mismatches


def test_accumulation_changed_behind_the_request_is_a_mismatch(rows: list, tmp_path: Path, shape_cache: Path) -> None:
    """Unsloth's trainer has been seen choosing gradient accumulation 2 on its own: fewer steps ran."""
    req = _req(epochs=1, batch_size=2, grad_accum=1)
    tr = _trainer(req, rows, tmp_path)
    tr.args.gradient_accumulation_steps = 2
    tr.train()
    eff = readback.read_effective(tr, req, 20, {})
    text = "; ".join(eff.mismatches)
    assert "grad_accum: requested 1, trainer used 2" in text
    assert "global_steps: requested 10, trainer used 5" in text
    assert "effective_batch: requested 2, trainer used 4" in text
