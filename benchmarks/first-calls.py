"""Where do a run's first-call costs go? One process, one candidate's shape (random weights), no harness.

    python benchmarks/first-calls.py --model gemma-2-2b-it --out results/first-calls    # on a GPU

Why: in the seed study (H100, measurement 4) every run's first 4 optimizer steps took 2-5 s each and the
rest 0.13-0.3 s, in every process (a warm-up run before it does not help), and a one-prompt generation
burn-in took 12 s against 5 s for the same answer timed afterwards. The plain trl probe of an earlier
session, on fixed-length batches, paid the first step only. This script tells whether it is the first
time each new sequence length is met (a per-shape cost of torch/transformers, which the team pays too), or
something of the harness's own:

1. train steps (LoRA, bf16 autocast, AdamW) at batch lengths A B C A B C D A: first visit vs revisit of
   each length, synchronised around each step;
2. the same again with a fresh length for every step (is the cost per new length or per step count?);
3. torch.profiler over the first visit of one more new length and over a revisit: the top ops by self
   CPU and self CUDA time, so the difference has a name;
4. generate(): the same prompt twice, 80 new tokens, then a prompt of another length.

Writes first-calls.json (every time) and profile-*.txt (the top ops) under --out. Run it again with
CUDA_MODULE_LOADING=EAGER (gpu-session.sh does): if the first visits get cheap and the build dear, the cost is
CUDA loading each new kernel (cuBLAS picks other kernels for other shapes) on first use, once per process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parent.parent
DEVICE = "cuda"  # --device cpu: a smoke check of this script on a machine without a GPU (figures meaningless)


def sync() -> None:
    if DEVICE == "cuda":
        sync()


def candidate(name: str) -> dict:
    raw = yaml.safe_load((REPO / "candidates.yaml").read_text(encoding="utf-8"))
    for c in raw["candidates"]:
        if c["name"] == name:
            return c
    sys.exit(f"candidates.yaml: no candidate named {name!r}")


def build(c: dict, rank: int):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(c["model_type"], **(c.get("shape_config") or {}))
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    lora = LoraConfig(r=rank, lora_alpha=16, lora_dropout=0.05, target_modules=c.get("lora_target_modules"),
                      task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, lora)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # trainable in fp32, as the harness's runs record
    return model, cfg.vocab_size


def step(model, opt, length: int, vocab: int, batch: int) -> float:
    x = torch.randint(0, vocab, (batch, length), device=DEVICE)
    mask = torch.ones_like(x)
    mask[0, : length // 3] = 0  # padding in one row, as "longest in batch" padding gives
    sync()
    t = time.perf_counter()
    with torch.autocast(DEVICE, dtype=torch.bfloat16):
        loss = model(input_ids=x, attention_mask=mask, labels=x).loss
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    sync()
    return time.perf_counter() - t


def profile(model, opt, length: int, vocab: int, batch: int, path: Path) -> float:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if DEVICE == "cuda" else [])
    with prof(activities=acts) as p:
        dt = step(model, opt, length, vocab, batch)
    text = [f"step at length {length}: {dt:.3f} s"]
    for key in ("self_cpu_time_total",) + (("self_cuda_time_total",) if DEVICE == "cuda" else ()):
        text.append(p.key_averages().table(sort_by=key, row_limit=25))
    path.write_text("\n\n".join(text), encoding="utf-8")
    return dt


def generate_times(model, vocab: int, lengths: list[int], new_tokens: int) -> list[dict]:
    model.eval()
    out = []
    for n in lengths:
        x = torch.randint(0, vocab, (1, n), device=DEVICE)
        sync()
        t = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False)  # fmt: skip
        sync()
        out.append({"prompt_tokens": n, "new_tokens": new_tokens, "s": round(time.perf_counter() - t, 3)})
    model.train()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-2-2b-it")
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--out", default="results/first-calls")
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cpu: a smoke check of the script")
    ap.add_argument("--shape", help="shape_config overrides as JSON (a smaller model for the smoke check)")
    a = ap.parse_args()
    global DEVICE
    DEVICE = a.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        sys.exit("first-calls: needs a CUDA GPU (the costs it looks for are the GPU's first calls)")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    c = candidate(a.model)
    if a.shape:
        c["shape_config"] = {**(c.get("shape_config") or {}), **json.loads(a.shape)}
    t0 = time.perf_counter()
    model, vocab = build(c, a.rank)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    report: dict = {
        "model": a.model, "rank": a.rank, "batch": a.batch, "build_s": round(time.perf_counter() - t0, 3),
        "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
        "env": {k: os.environ.get(k) for k in ("CUDA_MODULE_LOADING", "CUDA_CACHE_PATH", "CUDA_CACHE_DISABLE",
                                                "PYTORCH_KERNEL_CACHE_PATH", "HOME")},
    }  # fmt: skip
    seq = [96, 128, 160, 96, 128, 160, 192, 96]
    report["repeat_lengths"] = [{"length": n, "s": round(step(model, opt, n, vocab, a.batch), 3)} for n in seq]
    fresh = [100, 104, 108, 112, 116, 120]
    report["fresh_lengths"] = [{"length": n, "s": round(step(model, opt, n, vocab, a.batch), 3)} for n in fresh]
    report["profile_new_s"] = round(profile(model, opt, 140, vocab, a.batch, out / "profile-new-length.txt"), 3)
    report["profile_revisit_s"] = round(profile(model, opt, 140, vocab, a.batch, out / "profile-revisit.txt"), 3)
    report["generate"] = generate_times(model, vocab, [40, 40, 57], 80)
    (out / "first-calls.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
