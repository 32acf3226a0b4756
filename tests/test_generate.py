"""Generation timing on the CPU: what the burn-in runs, the one-at-a-time latency stage, forced lengths."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from harness import data as data_mod
from harness import weights
from harness.backends.hf import HF
from harness.child import generate
from harness.config import GenerationSettings
from tests.tiny import tiny_request


@pytest.fixture
def model_tok(shape_cache: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """A tiny shape model whose `generate` calls are recorded (batch size, new-token limits)."""
    req = tiny_request("llama")
    path = data_mod.resolve_data_path(req.data.path)
    ex = data_mod.load_examples(path, req.data.format)
    w = weights.resolve(req, "cpu", [e.question + " " + (e.answer or "") for e in ex], data_mod.file_sha256(path))
    model, tok, _ = HF().load(req, w, "cpu", torch.float32)
    calls: list[dict[str, Any]] = []
    real = model.generate

    def spy(**kw: Any) -> Any:
        calls.append({"batch": kw["input_ids"].shape[0], "width": kw["input_ids"].shape[1],
                      "max_new": kw.get("max_new_tokens"), "min_new": kw.get("min_new_tokens")})  # fmt: skip
        return real(**kw)

    model.generate = spy
    return model, tok, calls


def _items(n: int) -> list[tuple[str, str]]:
    return [(f"r{i}", f"### 질문: 질문 {'가나다' * (i % 4 + 1)} ### 답변:") for i in range(n)]


def test_burn_in_runs_the_timed_batch_at_its_size_and_length(model_tok: tuple) -> None:
    model, tok, calls = model_tok
    items = _items(6)
    s = GenerationSettings(max_new_tokens=7, batch_size=4, force_new_tokens=False)
    first = [p for _, p in items[: s.batch_size]]
    generate.burn_in(model, tok, first, s)
    generate.answer_batches(model, tok, items, s)
    burn, timed = calls[0], calls[1]
    assert burn["batch"] == timed["batch"] == 4 and burn["width"] == timed["width"]  # the same prompts, same shape
    assert burn["max_new"] == 7 and burn["min_new"] == 7  # every cache length the timed batch can reach


def test_answer_batches_answer_every_prompt_in_batches(model_tok: tuple) -> None:
    model, tok, calls = model_tok
    s = GenerationSettings(max_new_tokens=5, batch_size=4)
    answers, wall = generate.answer_batches(model, tok, _items(6), s)
    assert [c["batch"] for c in calls] == [4, 2]
    assert [a.id for a in answers] == [f"r{i}" for i in range(6)] and wall > 0
    assert all(1 <= a.new_tokens <= 5 for a in answers)


def test_latency_stage_is_one_at_a_time_after_its_own_burn_in(model_tok: tuple) -> None:
    model, tok, calls = model_tok
    s = GenerationSettings(max_new_tokens=5, batch_size=8, latency_prompts=2)
    burn = generate.latency_burn_in(model, tok, _items(6), s)
    assert burn > 0 and len(calls) == 1  # the longest latency prompt once, untimed
    assert calls[0]["min_new"] == 5  # to the longest answer
    lat = generate.latency(model, tok, _items(6), s)
    assert lat is not None and lat.prompts == 2 and len(lat.answers) == 2
    assert [c["batch"] for c in calls] == [1, 1, 1]
    assert calls[0]["width"] == max(c["width"] for c in calls[1:])  # the widest of the timed prompts
    assert lat.s_per_answer == pytest.approx(lat.wall_s / 2) and lat.wall_s > 0
    assert [a.id for a in lat.answers] == ["r0", "r1"]


def test_latency_stage_needs_prompts(model_tok: tuple) -> None:
    model, tok, calls = model_tok
    s = GenerationSettings(max_new_tokens=5, batch_size=8, latency_prompts=0)
    assert generate.latency_burn_in(model, tok, _items(3), s) == 0
    assert generate.latency(model, tok, _items(3), s) is None and calls == []


@pytest.mark.parametrize(
    ("mode", "asked", "forced"), [("real", True, False), ("shape", True, True), ("shape", False, False)]
)
def test_forced_lengths_only_in_shape_mode(mode: str, asked: bool, forced: bool) -> None:
    s = GenerationSettings(force_new_tokens=asked)
    assert generate.settings_for(s, mode).force_new_tokens is forced
