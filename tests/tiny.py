"""Tiny random models of every architecture family in candidates.yaml, for CPU tests (never downloaded)."""

from __future__ import annotations

from typing import Any

from harness.config import Candidate, RunRequest, build_request

ALL7 = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

TINY: dict[str, dict[str, Any]] = {
    "llama": {
        "model_type": "llama",
        "targets": ALL7,
        "config": dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256),
    },
    "gemma": {
        "model_type": "gemma",
        "targets": ALL7,
        "config": dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=1, head_dim=8, max_position_embeddings=256),
    },
    "gemma2": {
        "model_type": "gemma2",
        "targets": ALL7,
        "config": dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                       sliding_window=64, final_logit_softcapping=30.0, attn_logit_softcapping=50.0),
    },
    "gpt_neox": {
        "model_type": "gpt_neox",
        "targets": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
        "config": dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, max_position_embeddings=256, rotary_pct=0.5),
    },
    "qwen2": {
        "model_type": "qwen2",
        "targets": ALL7,
        "config": dict(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256),
    },
    "rwkv": {
        "model_type": "rwkv",
        "targets": ["attention.key", "attention.value", "attention.receptance", "attention.output",
                    "feed_forward.key", "feed_forward.value", "feed_forward.receptance"],
        "config": dict(vocab_size=512, hidden_size=32, attention_hidden_size=32, intermediate_size=64,
                       num_hidden_layers=2, context_length=256),
    },
}  # fmt: skip


def tiny_candidate(family: str = "llama", name: str | None = None, **over: Any) -> Candidate:
    spec = TINY[family]
    fields = dict(
        name=name or f"tiny-{family.replace('_', '-')}", hub_id=f"test/tiny-{family}", params_b=0.0001,
        license="test", family=family, model_type=spec["model_type"], shape_config=spec["config"],
        lora_target_modules=spec["targets"], unsloth_native=family in ("llama", "gemma", "gemma2", "qwen2"),
    )  # fmt: skip
    fields.update(over)
    return Candidate(**fields)


def tiny_request(family: str = "llama", **over: Any) -> RunRequest:
    """A shape-mode CPU request small enough to train and answer in about a second."""
    fields: dict[str, Any] = {
        "weights": "shape",
        "device": "cpu",
        "data": {"path": "data/sample_qa.csv", "train_rows": 8, "eval_rows": 3, "grade_rows": 1},
        "train": {"max_steps": 2, "batch_size": 4, "burn_in_steps": 1, "max_length": 64},
        "generation": {"max_new_tokens": 6, "batch_size": 2, "latency_prompts": 1},
        "lora": {"rank": 4},
    }
    cand = over.pop("candidate", None) or tiny_candidate(family)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(fields.get(k), dict):
            fields[k] = {**fields[k], **v}
        else:
            fields[k] = v
    return build_request(cand, fields)
