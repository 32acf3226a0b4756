"""A backend named once: what the harness derives from the backend classes (the registry) instead of naming them.

Fork-server preloads, compile caches, child and recorded environment, the report's packages, the CLI's flags,
the request's backend sections, the memory model's terms, the published claim; and that nothing outside
harness/backends/ names a backend. CPU only, nothing heavy imported.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from harness import backends
from harness.backends import REGISTRY, Backend, BackendFlag
from harness.backends.hf import HF

ROOT = Path(__file__).resolve().parents[1]


def test_the_fork_server_preloads_what_the_forkable_backends_declare() -> None:
    from harness.sweep import forkserver

    forkable = [b for b in REGISTRY.values() if b.forkable]
    assert forkable
    for b in forkable:
        assert set(b.preloads) <= set(forkserver.PRELOAD)
    assert forkserver.PRELOAD[0] == "torch" and forkserver.PRELOAD[-2:] == (
        "harness.child.run",
        "harness.child.generate",
    )
    # what a backend must never have preloaded is never in the preload list
    for b in REGISTRY.values():
        assert set(b.never_preload) <= set(forkserver.NEVER_PRELOAD)
        assert not set(b.never_preload) & set(forkserver.PRELOAD)


def test_a_non_forkable_backends_preloads_are_not_the_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    class Patching(Backend):
        name = "patching"
        description = "test"
        forkable: ClassVar[bool] = False
        preloads: ClassVar[tuple[str, ...]] = ("patched_lib",)

    monkeypatch.setitem(REGISTRY, "patching", Patching())
    assert "patched_lib" not in backends.preloads()
    assert backends.preloads()[: len(HF.preloads)] == HF.preloads


def test_compile_caches_child_and_recorded_env_come_from_the_classes() -> None:
    from harness.caches import CACHE_VARS
    from harness.child.env import RECORDED_ENV
    from harness.child_env import CHILD_ENV

    assert list(CACHE_VARS)[:2] == ["inductor", "triton"]  # torch's own, then each backend's
    for b in REGISTRY.values():
        assert b.compile_caches.items() <= CACHE_VARS.items()
        assert b.child_env.items() <= CHILD_ENV.items()
        assert set(b.recorded_env) <= set(RECORDED_ENV)
    assert CHILD_ENV["PYTHONUNBUFFERED"] == "1"


def test_the_reports_packages_are_the_common_ones_then_each_backends() -> None:
    from harness.report.load import PACKAGES_SHOWN

    shown = [p for b in REGISTRY.values() for p in b.shown_packages]
    assert list(PACKAGES_SHOWN[-len(shown) :]) == shown
    assert PACKAGES_SHOWN[0] == "torch"


def test_a_backends_flag_is_parsed_and_set_on_its_field() -> None:
    ap = argparse.ArgumentParser()
    backends.add_flags(ap)
    for f in backends.FLAGS:
        assert f.flag.startswith("--") and "." in f.field
        value = f.choices[-1] if f.choices else "x"
        args = ap.parse_args([f.flag, value])
        assert backends.flag_settings(args) == {f.field: value}
    assert backends.flag_settings(ap.parse_args([])) == {}
    assert BackendFlag("--some-thing", "a.b").dest == "some_thing"


def test_the_flags_typed_name_the_backends_options() -> None:
    from harness import flags

    for f in backends.FLAGS:
        assert flags.FLAG_FIELDS[f.dest] == (f.field,)
        assert f.field in flags.SETTING_FIELDS


def test_each_backends_settings_section_is_a_request_field_with_its_default() -> None:
    from harness.config import RunRequest, base_problems

    sections = backends.settings_sections()
    for name, model in sections.items():
        assert RunRequest.model_fields[name].annotation is model
        assert base_problems({name: {"no_such_field": 1}}, "spec.yaml")
    fields = list(RunRequest.model_fields)
    # the order a result file writes them in: after `generation`, before `trust_remote_code`
    for name in sections:
        assert fields.index("generation") < fields.index(name) < fields.index("trust_remote_code")


def test_checkpointing_modes_are_the_backends_own() -> None:
    from harness.config import TrainSettings

    for mode in backends.CHECKPOINTING_MODES:
        assert TrainSettings(gradient_checkpointing=mode).gradient_checkpointing == mode
        assert any(mode in b.checkpointing_modes for b in REGISTRY.values())
    with pytest.raises(ValueError):
        TrainSettings(gradient_checkpointing="no-such-mode")
    assert not backends.offloads_checkpointing(True) and not backends.offloads_checkpointing(False)


def test_the_memory_model_asks_the_backend_for_its_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.memory.model import Settings, predict

    cfg = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1000}  # fmt: skip

    class Fused(HF):
        name = "fused"
        description = "test"
        holds_logits: ClassVar[bool] = False
        memory_calibrated: ClassVar[bool] = False

    monkeypatch.setitem(REGISTRY, "fused", Fused())
    monkeypatch.setattr("harness.memory.model.BACKENDS", (*backends.NAMES, "fused"))
    plain = predict(cfg, Settings(backend=backends.PLAIN, seq_len=16, batch=1), "H100")["train"]
    fused = predict(cfg, Settings(backend="fused", seq_len=16, batch=1), "H100")["train"]
    assert any(t.name.startswith("loss:") for t in plain.terms)
    assert not any(t.name.startswith("loss:") for t in fused.terms)  # a fused loss never holds the logits
    assert plain.calibrated and not fused.calibrated
    assert any("fused: predicted with the peft+trl graph, logits never held" in n for n in fused.notes)


def test_a_published_claim_is_said_beside_its_backends_pairs() -> None:
    from harness.report.sections.backends import CLAIMS

    for name, claim in CLAIMS.items():
        assert REGISTRY[name].claim is claim
        assert 0 < claim.step_ratio <= 1 and 0 < claim.memory_ratio <= 1
        assert set(claim.settings) == {"quant", "per_device_batch", "grad_accum", "lora_rank"}


def test_the_list_command_shows_a_backends_own_candidate_fact() -> None:
    class Facts(BaseModel):
        model_config = ConfigDict(extra="allow")

    cand: Any = Facts(unsloth_native=True)
    for b in REGISTRY.values():
        if b.candidate_column:
            assert b.candidate_fact(cand)


def test_nothing_outside_the_backends_folder_names_a_backend() -> None:
    """Outside harness/backends/ a backend's name is only a schema field (a candidates.yaml or result field), or
    trl's own argument name."""
    allowed = {
        "harness/config/candidates.py": {"unsloth_native"},  # candidates.yaml's field
        "harness/result.py": {"unsloth_path", "unsloth_env"},  # result files' fields
    }
    names = [b.name for b in REGISTRY.values() if b.name != backends.PLAIN]
    word = re.compile(r"[A-Za-z_]*(?:" + "|".join(names) + r")[A-Za-z_]*", re.IGNORECASE)
    found = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("harness/backends/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for m in word.findall(line):
                if m not in allowed.get(rel, set()):
                    found.append(f"{rel}:{n}: {m}")
    assert found == []
