"""Generation with timing: batched answers, one-at-a-time latency, and answer-only loss in bits per character.

Greedy decoding. With `force_new_tokens` (shape mode only: `settings_for`), every answer is exactly
`max_new_tokens` long (the end token is suppressed), so candidates do the same work. Every batch is
preceded by a GPU sync and followed by one before the clock is read.

Burn-in: first-call costs are per shape, not per process. On an H100 (torch 2.11, transformers 5.17),
SDPA runs cuDNN attention, which builds a plan for every new (batch, cache length) it meets, and cuBLAS
picks kernels per matrix shape. A burn-in of one prompt and 4 tokens left every shape of the timed batch
of 25 new: gemma-2-2b r16 (LoRA, shape weights) took a median 152 ms a decode step with spikes of
0.6-1.1 s on the first timed pass, and 87.5 ms on the same batch run again; polyglot-ko-1.3b 94 then 57 ms.
Warm, a decode step at batch 25 costs about what one at batch 1 does (launch-bound: the GPU was busy
13.5 of 87 ms a step). So each timed stage is preceded by the same work, untimed: the timed batch's
prompts at its size, forced to `max_new_tokens`, and the longest latency prompt once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from harness.config import GenerationSettings


@dataclass
class RawAnswer:
    id: str
    prompt: str
    text: str
    new_tokens: int
    hit_eos: bool
    seconds: float


def _sync(model: Any) -> None:
    if next(model.parameters()).is_cuda:
        torch.cuda.synchronize()


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif isinstance(gen_eos, list):
        ids.update(gen_eos)
    return sorted(i for i in ids if i is not None)


@torch.inference_mode()
def _generate_batch(model: Any, tokenizer: Any, prompts: list[str], s: GenerationSettings) -> tuple[list, float]:
    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=True).to(_device(model))
    eos = _eos_ids(tokenizer, model)
    kwargs: dict[str, Any] = {
        "max_new_tokens": s.max_new_tokens,
        "do_sample": False,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": eos,
    }
    if s.force_new_tokens:
        kwargs["min_new_tokens"] = s.max_new_tokens
    _sync(model)
    t0 = time.perf_counter()
    out = model.generate(**enc, **kwargs)
    _sync(model)
    dt = time.perf_counter() - t0
    gen = out[:, enc["input_ids"].shape[1] :]
    rows = []
    for seq in gen.tolist():
        n, hit = len(seq), False
        for i, tid in enumerate(seq):
            if tid in eos:
                n, hit = i + 1, True
                break
        text = tokenizer.decode(seq[: n - 1 if hit else n], skip_special_tokens=True).strip()
        rows.append((text, n, hit))
    return rows, dt


def settings_for(s: GenerationSettings, weights_mode: str) -> GenerationSettings:
    """Forced lengths only in shape mode: with real weights a forced answer is a truncated one, and
    forcing would cap its quality."""
    if weights_mode != "shape" and s.force_new_tokens:
        return s.model_copy(update={"force_new_tokens": False})
    return s


def burn_in(model: Any, tokenizer: Any, prompts: list[str], s: GenerationSettings) -> float:
    """The timed batch's own prompts, at its size, forced to `max_new_tokens`: every shape the timed batch
    can meet (batch, prompt width, each cache length) is met once before the clock starts. Returns its seconds."""
    was_training = model.training
    model.eval()
    _, dt = _generate_batch(model, tokenizer, prompts, s.model_copy(update={"force_new_tokens": True}))
    if was_training:
        model.train()
    return dt


def answer_batches(
    model: Any, tokenizer: Any, items: list[tuple[str, str]], s: GenerationSettings
) -> tuple[list[RawAnswer], float]:
    """Answers for (id, prompt) items in batches of `s.batch_size`. Returns answers and the summed batch seconds."""
    was_training = model.training
    model.eval()
    answers: list[RawAnswer] = []
    wall = 0.0
    for i in range(0, len(items), s.batch_size):
        chunk = items[i : i + s.batch_size]
        rows, dt = _generate_batch(model, tokenizer, [p for _, p in chunk], s)
        wall += dt
        for (rid, prompt), (text, n, hit) in zip(chunk, rows, strict=True):
            answers.append(RawAnswer(rid, prompt, text, n, hit, dt / len(chunk)))
    if was_training:
        model.train()
    return answers, wall


@dataclass
class Latency:
    """One answer at a time (the team's own measurement), on the first `prompts` prompts."""

    answers: list[RawAnswer]
    prompts: int
    wall_s: float  # the timed answers' seconds, summed
    s_per_answer: float


def latency_items(items: list[tuple[str, str]], s: GenerationSettings) -> list[tuple[str, str]]:
    return items[: min(s.latency_prompts, len(items))]


def latency_burn_in(model: Any, tokenizer: Any, items: list[tuple[str, str]], s: GenerationSettings) -> float:
    """The longest latency prompt answered alone once, forced to `max_new_tokens`, untimed. Returns seconds.

    One prompt, not each: it meets batch 1 at the widest range of cache lengths the timed answers reach,
    at a third of the cost. Answering every prompt first (tried on the H100: 28 s of burn-in for 17 s of
    timed answers, gemma-2-2b-it) made the burn-in cost more than the measurement; a shorter prompt may
    still meet a few new prefill shapes, which its timed answer then pays (small next to 80 decode steps).
    """
    chosen = latency_items(items, s)
    if not chosen:
        return 0.0
    longest = max((p for _, p in chosen), key=lambda p: len(tokenizer(p)["input_ids"]))
    return burn_in(model, tokenizer, [longest], s.model_copy(update={"batch_size": 1}))


def latency(model: Any, tokenizer: Any, items: list[tuple[str, str]], s: GenerationSettings) -> Latency | None:
    """Each of the first `latency_prompts` prompts answered alone; None when there are none to answer."""
    chosen = latency_items(items, s)
    if not chosen:
        return None
    answers, wall = answer_batches(model, tokenizer, chosen, s.model_copy(update={"batch_size": 1}))
    return Latency(answers=answers, prompts=len(chosen), wall_s=wall, s_per_answer=wall / len(chosen))


@torch.inference_mode()
def answer_nll(
    model: Any, tokenizer: Any, pairs: list[tuple[str, str]], batch_size: int = 8, max_length: int = 512
) -> list[tuple[float, int]]:
    """For (prompt, reference answer) pairs: summed NLL in nats over the answer's tokens, and its characters.

    bits per character = nll / chars / ln 2 compares candidates whose tokenizers differ.
    """
    was_training = model.training
    model.eval()
    tokenizer.padding_side = "right"
    out: list[tuple[float, int]] = []
    dev = _device(model)
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        ids_list, masks = [], []
        for prompt, ref in chunk:
            p_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
            full = tokenizer(prompt + " " + ref, add_special_tokens=True)["input_ids"][:max_length]
            ids_list.append(full)
            masks.append([0] * min(len(p_ids), len(full)) + [1] * max(0, len(full) - len(p_ids)))
        width = max(len(x) for x in ids_list)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids_list], device=dev)
        att = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids_list], device=dev)
        ans = torch.tensor([m + [0] * (width - len(m)) for m in masks], device=dev)
        logits = model(input_ids=ids, attention_mask=att).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = ids[:, 1:]
        nll = -logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1) * ans[:, 1:]
        for row, (_, ref) in zip(nll.sum(dim=1).tolist(), chunk, strict=True):
            out.append((float(row), max(1, len(ref.strip()))))
    if was_training:
        model.train()
    return out


def bits_per_char(pairs: list[tuple[float, int]]) -> list[float]:
    from harness.quality.metrics import bits_per_char as bpc

    return [bpc(nll, chars) for nll, chars in pairs]
