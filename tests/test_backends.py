"""Capability checks, the nf4 and Unsloth request paths, and the mismatch rule (CPU only)."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from harness.backends import REGISTRY, base, capability, common, get
from harness.backends.unsloth import Unsloth
from harness.weights import ResolvedWeights
from tests.tiny import tiny_candidate, tiny_request

H100 = ("NVIDIA H100 80GB HBM3", (9, 0))
M6000 = ("Quadro M6000", (5, 2))


# ---------------------------------------------------------------- capability checks


@pytest.mark.parametrize(
    ("over", "gpu", "expect"),
    [
        ({"backend": "unsloth"}, None, "unsloth needs a CUDA GPU"),
        ({"backend": "liger"}, None, "liger needs a CUDA GPU"),
        ({"backend": "liger", "device": "auto"}, M6000, "liger needs compute capability >= 7.0; Quadro M6000 has 5.2"),
        ({"backend": "unsloth", "quant": "nf4"}, None, "unsloth needs a CUDA GPU"),
        ({"quant": "nf4"}, None, "nf4 (bitsandbytes 4-bit) needs a CUDA GPU"),
        ({"device": "cuda"}, None, "no CUDA GPU is visible"),
        ({"backend": "unsloth", "device": "auto"}, M6000, "compute capability >= 7.0; Quadro M6000 has 5.2"),
        ({"train": {"gradient_checkpointing": "unsloth"}, "device": "auto"}, H100, "not a mode of backend hf"),
    ],
)
def test_unsupported_reasons(over: dict, gpu: Any, expect: str) -> None:
    reason = capability.check(tiny_request("llama", **over), gpu)
    assert reason is not None and expect in reason


def test_missing_packages_are_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capability, "installed", lambda m: False)
    monkeypatch.setattr(base, "installed", lambda m: False)
    r = capability.check(tiny_request("llama", backend="unsloth", device="auto"), H100)
    assert r is not None and "unsloth needs unsloth, which is not installed" in r
    r = capability.check(tiny_request("llama", backend="liger", device="auto"), H100)
    assert r is not None and "liger needs liger_kernel, triton, which is not installed" in r
    r = capability.check(tiny_request("llama", quant="nf4", device="auto"), H100)
    assert r is not None and "bitsandbytes is not installed" in r
    r = capability.check(tiny_request("llama", train={"optimizer": "paged_adamw_8bit"}, device="auto"), H100)
    assert r is not None and "bitsandbytes" in r


def test_supported_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    assert capability.check(tiny_request("llama"), None) is None  # plain LoRA on the CPU
    monkeypatch.setattr(capability, "installed", lambda m: True)
    monkeypatch.setattr(base, "installed", lambda m: True)
    assert capability.check(tiny_request("llama", backend="unsloth", quant="nf4", device="auto"), H100) is None
    assert capability.check(tiny_request("llama", backend="liger", quant="nf4", device="auto"), H100) is None


@pytest.mark.parametrize(
    ("version", "over", "refused"),
    [
        ("0.50.2", {"quant": "nf4"}, True),  # the pinned [gpu] extra: its wheel has no Maxwell kernels
        ("0.48.0", {"train": {"optimizer": "paged_adamw_8bit"}}, True),
        ("0.47.0", {"quant": "nf4"}, False),  # the last release whose wheels still carried Maxwell
        (None, {"quant": "nf4"}, True),  # version unknown: the pinned one's rule
    ],
)
def test_bitsandbytes_on_the_teams_maxwell_gpu(monkeypatch: pytest.MonkeyPatch, version, over, refused) -> None:
    monkeypatch.setattr(capability, "installed", lambda m: True)
    monkeypatch.setattr(capability, "bnb_version", lambda: version)
    reason = capability.check(tiny_request("llama", device="auto", **over), M6000)
    if refused:
        assert reason is not None and "needs compute capability >= 6.0; Quadro M6000 has 5.2" in reason
        assert "bitsandbytes<0.48" in reason
    else:
        assert reason is None
    assert capability.check(tiny_request("llama", device="auto", **over), ("Tesla T4", (7, 5))) is None


def test_no_gpu_on_this_machine_reports_none() -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert capability.gpu_capability(0) is None


# ---------------------------------------------------------------- the nf4 request path


def test_nf4_config_is_double_quant_nf4_with_compute_dtype() -> None:
    cfg = common.nf4_config(torch.bfloat16)
    assert cfg.load_in_4bit and cfg.bnb_4bit_quant_type == "nf4" and cfg.bnb_4bit_use_double_quant
    assert cfg.bnb_4bit_compute_dtype == torch.bfloat16


def test_hf_load_passes_quantization_for_nf4(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    class FakeModel(torch.nn.Module):
        config = SimpleNamespace(_attn_implementation="sdpa")

    def fake_from_pretrained(path: str, **kw: Any) -> Any:
        seen.update(kw)
        return FakeModel()

    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", staticmethod(fake_from_pretrained))
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained",
        staticmethod(lambda *a, **k: SimpleNamespace(pad_token=None, eos_token="</s>")),
    )  # fmt: skip
    w = ResolvedWeights(model_dir=tmp_path, tokenizer_dir=tmp_path, source="t", tokenizer_desc="t")
    _, tok, info = get("hf").load(tiny_request("llama", quant="nf4"), w, "cpu", torch.bfloat16)
    q = seen["quantization_config"]
    assert q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert seen["dtype"] == torch.bfloat16
    assert seen["trust_remote_code"] is False  # never on unless the candidate declares it and the user asks
    assert tok.pad_token == "</s>" and info["pad_token"].startswith("eos")


@pytest.mark.parametrize(
    ("candidate_declares", "user_passes"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_trust_remote_code_needs_both_candidate_and_user(
    candidate_declares: bool, user_passes: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[bool] = []
    import transformers

    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained",
        staticmethod(lambda *a, **k: seen.append(k["trust_remote_code"]) or SimpleNamespace(pad_token="p", eos_token="e")),
    )  # fmt: skip
    monkeypatch.setattr(
        transformers.AutoModelForCausalLM, "from_pretrained",
        staticmethod(lambda *a, **k: seen.append(k["trust_remote_code"]) or SimpleNamespace(config=SimpleNamespace(), to=lambda d: None)),
    )  # fmt: skip
    w = ResolvedWeights(model_dir=tmp_path, tokenizer_dir=tmp_path, source="t", tokenizer_desc="t")
    cand = tiny_candidate("llama", trust_remote_code=candidate_declares)
    get("hf").load(tiny_request(candidate=cand, trust_remote_code=user_passes), w, "cpu", torch.float32)
    assert seen == [candidate_declares and user_passes] * 2  # tokenizer and model alike


# ---------------------------------------------------------------- the unsloth request path


@pytest.fixture
def fake_unsloth(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def loader(name: str) -> Any:
        def from_pretrained(**kw: Any) -> Any:
            calls[f"{name}.from_pretrained"] = kw
            return SimpleNamespace(), SimpleNamespace(pad_token=None, eos_token="<eos>")

        def get_peft_model(model: Any, **kw: Any) -> Any:
            calls[f"{name}.get_peft_model"] = kw
            return SimpleNamespace(peft_config={"default": SimpleNamespace(target_modules={"q_proj"})})

        def mode(which: str) -> Any:
            return lambda model: calls.setdefault("modes", []).append((name, which))

        return SimpleNamespace(__name__=name, from_pretrained=from_pretrained, get_peft_model=get_peft_model,
                               for_inference=mode("inference"), for_training=mode("training"))  # fmt: skip

    mod = types.ModuleType("unsloth")
    mod.FastLanguageModel = loader("FastLanguageModel")  # type: ignore[attr-defined]
    mod.FastModel = loader("FastModel")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "unsloth", mod)
    for k in ("UNSLOTH_BLOCK_COMPILE", "UNSLOTH_COMPILE_DISABLE", "HF_HUB_OFFLINE", "UNSLOTH_DISABLE_STATISTICS"):
        monkeypatch.delenv(k, raising=False)
    return calls


@pytest.mark.parametrize("quant", ["none", "nf4"])
def test_unsloth_load_sets_4bit_explicitly(fake_unsloth: dict, quant: str, tmp_path: Path) -> None:
    w = ResolvedWeights(model_dir=tmp_path, tokenizer_dir=tmp_path, source="t", tokenizer_desc="t")
    _, _, info = Unsloth().load(tiny_request("llama", backend="unsloth", quant=quant), w, "cuda", torch.bfloat16)
    kw = fake_unsloth["FastLanguageModel.from_pretrained"]
    assert kw["load_in_4bit"] is (quant == "nf4")  # Unsloth defaults to 4-bit: always set it
    assert kw["full_finetuning"] is False
    assert info["unsloth_path"] == "native"


def test_unsloth_generic_path_for_gpt_neox_and_rwkv(fake_unsloth: dict, tmp_path: Path) -> None:
    w = ResolvedWeights(model_dir=tmp_path, tokenizer_dir=tmp_path, source="t", tokenizer_desc="t")
    for fam in ("gpt_neox", "rwkv"):
        _, _, info = Unsloth().load(tiny_request(fam, backend="unsloth"), w, "cuda", torch.bfloat16)
        assert info["unsloth_path"] == "generic" and info["unsloth_loader"] == "FastModel"


def test_unsloth_lora_and_checkpointing(fake_unsloth: dict) -> None:
    req = tiny_request("llama", backend="unsloth", train={"gradient_checkpointing": "unsloth"},
                       lora={"rank": 32, "alpha": 16, "dropout": 0.0})  # fmt: skip
    Unsloth().add_adapter(SimpleNamespace(), req)
    kw = fake_unsloth["FastLanguageModel.get_peft_model"]
    assert kw["r"] == 32 and kw["lora_alpha"] == 16 and kw["lora_dropout"] == 0.0
    assert kw["use_gradient_checkpointing"] == "unsloth" and kw["random_state"] == req.train.seed


@pytest.mark.parametrize(
    ("setting", "env"),
    [("default", {}), ("block_off", {"UNSLOTH_BLOCK_COMPILE": "0"}), ("all_off", {"UNSLOTH_COMPILE_DISABLE": "1"})],
)
def test_unsloth_compile_switches_are_set_before_import(fake_unsloth: dict, setting: str, env: dict) -> None:
    req = tiny_request("llama", backend="unsloth", unsloth={"compile": setting})
    recorded = Unsloth().process_env(req)
    assert recorded == {"UNSLOTH_DISABLE_STATISTICS": "1", **env}
    for k, v in recorded.items():
        assert os.environ[k] == v


# the mismatch rule: tests/test_train_readback.py, on real tiny SFTTrainers


def test_unsloth_mode_switches_use_the_class_that_loaded_the_model(fake_unsloth: dict) -> None:
    Unsloth().to_inference(object(), tiny_request("llama", backend="unsloth"))
    Unsloth().to_training(object(), tiny_request("gpt_neox", backend="unsloth"))
    assert fake_unsloth["modes"] == [("FastLanguageModel", "inference"), ("FastModel", "training")]


# ---------------------------------------------------------------- the registry


def test_registry_names_every_backend_once_and_config_follows_it() -> None:
    from harness.config import Axes, RunRequest

    assert set(REGISTRY) == {"hf", "unsloth", "liger"}
    assert set(RunRequest.model_fields["backend"].annotation.__args__) == set(REGISTRY)
    assert Axes(candidates=["x"], backends=["liger"]).backends == ["liger"]
    with pytest.raises(ValueError):
        get("nope")


def test_liger_sets_only_its_trainer_switch(tmp_path: Path) -> None:
    from harness.child.train import sft_config

    req = tiny_request("llama", backend="liger")
    assert get("liger").trainer_args(req) == {"use_liger_kernel": True}
    cfg = sft_config(req, tmp_path, "cpu", torch.float32, get("liger").trainer_args(req))
    plain = sft_config(req, tmp_path, "cpu", torch.float32, get("hf").trainer_args(req))
    assert cfg.use_liger_kernel is True and plain.use_liger_kernel is False
    differ = {k for k in cfg.to_dict() if cfg.to_dict()[k] != plain.to_dict()[k]}
    assert differ == {"use_liger_kernel"}


def test_backend_modules_do_not_import_torch() -> None:
    import subprocess

    code = "import sys, harness.backends, harness.backends.capability; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_attention_kernel_reads_the_model_not_the_request() -> None:
    """RWKV's step time depends on whether its hub kernel loaded; other models name their implementation."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from harness.backends.common import attention_kernel

    rwkv = AutoModelForCausalLM.from_config(
        AutoConfig.for_model(
            "rwkv",
            hidden_size=32,
            num_hidden_layers=2,
            vocab_size=64,
            context_length=16,
            attention_hidden_size=32,
            intermediate_size=64,
        )
    )
    assert attention_kernel(rwkv).startswith("rwkv pytorch loop")  # no CUDA here: never the kernel
    llama = AutoModelForCausalLM.from_config(
        AutoConfig.for_model(
            "llama", hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64, vocab_size=64
        )
    )
    assert attention_kernel(llama) == llama.config._attn_implementation
