"""`harness fits`: predicted memory per phase and which of the team's GPUs it fits, without a GPU.

    python -m harness fits --model gemma-2-2b-it --rank 64 --batch 4 --max-length 256 --gpu T4

--model takes a candidate name or hub id, a folder with config.json, or any hub id (its config.json alone:
the Hugging Face cache first, else downloaded; HF_HUB_OFFLINE=1: cache only). Rows are taken padded to
--max-length (the worst case) unless --seq-len gives the longest row's tokens.
"""

from __future__ import annotations

import argparse
from typing import Any

from harness.backends import CHECKPOINTING_MODES, NAMES, PLAIN
from harness.errors import UserError
from harness.memory import source
from harness.memory.gpus import TEAM_GPUS
from harness.memory.gpus import gpu as find_gpu
from harness.memory.model import PredictedPeak, Settings, predict
from harness.memory.shape import model_shape
from harness.memory.verdict import fit_table, fits_on, largest


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("fits", help="predicted memory per phase and which of the team's GPUs it fits (no GPU)")
    p.add_argument("--model", required=True, help="candidate name or hub id, folder with config.json, any hub id")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--max-length", type=int, default=256)
    p.add_argument("--seq-len", type=int, help="tokens of the longest row (default: --max-length, the worst case)")
    p.add_argument("--gpu", default="T4", help="the GPU to size for: M6000, T4 or H100 (default T4)")
    p.add_argument("--dtype", help="bf16, fp16 or fp32 (default: what that GPU trains in)")
    p.add_argument("--quant", default="none", help="none or nf4")
    p.add_argument("--backend", default=PLAIN, help=_or(NAMES))
    p.add_argument("--gradient-checkpointing", default="false", help=_or(("false", "true", *CHECKPOINTING_MODES)))
    p.add_argument("--targets", nargs="+", help="LoRA target modules (default: the candidate's, else all-linear)")
    p.add_argument("--lora-dropout", type=float, default=0.05)
    p.add_argument("--optimizer", default="adamw_torch")
    p.add_argument("--gen-batch", type=int, default=25, help="answers generated at once")
    p.add_argument("--prompt-len", type=int, default=64, help="tokens of the longest prompt")
    p.add_argument("--new-tokens", type=int, default=80)
    p.set_defaults(func=run)
    return p


def _checkpointing(text: str) -> bool | str:
    t = text.strip().lower()
    if t in ("false", "no", "0", "off"):
        return False
    if t in ("true", "yes", "1", "on"):
        return True
    if t in CHECKPOINTING_MODES:  # a backend's own mode
        return t
    raise UserError(f"--gradient-checkpointing '{text}': give {_or(('false', 'true', *CHECKPOINTING_MODES))}")


def _or(words: tuple[str, ...]) -> str:
    """'a, b or c'."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else "".join(words)


def settings_from_args(args: argparse.Namespace, targets: tuple[str, ...], dtype: str) -> Settings:
    if args.max_length < 1:
        raise UserError(f"--max-length is {args.max_length}; give 1 or more")
    seq = args.seq_len if args.seq_len is not None else args.max_length
    if seq > args.max_length:
        raise UserError(f"--seq-len {seq} is longer than --max-length {args.max_length}; rows are truncated to it")
    s = Settings(
        rank=args.rank, batch=args.batch, seq_len=seq, dtype=dtype, quant=args.quant, backend=args.backend,
        gradient_checkpointing=_checkpointing(args.gradient_checkpointing), lora_dropout=args.lora_dropout,
        optimizer=args.optimizer, targets=targets, gen_batch=args.gen_batch, prompt_len=args.prompt_len,
        new_tokens=args.new_tokens,
    )  # fmt: skip
    s.check()
    return s


def _phase_lines(pred: dict[str, PredictedPeak]) -> list[str]:
    lines = [f"  {'phase':<10}{'torch allocated':>18}{'NVML process':>16}"]
    for ph, p in pred.items():
        lines.append(f"  {ph:<10}{p.torch_allocated_mib:>14,.0f} MiB{p.nvml_process_mib:>12,.0f} MiB")
    return lines


def run(args: argparse.Namespace) -> int:
    g = find_gpu(args.gpu)
    spec = source.resolve(args.model, args.targets)
    dtype = args.dtype or g.auto_dtype  # harness.dtypes: what dtype auto trains in there
    s = settings_from_args(args, spec.targets, dtype)
    cfg = {k: v for k, v in spec.config.items() if k != "model_type"}
    shape = model_shape(spec.config["model_type"], cfg, spec.targets)
    pred = predict(spec.config, s, g)
    verdict = fits_on(pred, g)
    padded = "every row padded to --max-length" if args.seq_len is None else "longest row"
    gc = {
        False: "no checkpointing",
        True: "gradient checkpointing",
        **{m: f"{m} checkpointing" for m in CHECKPOINTING_MODES},
    }
    lines = [
        spec.label,
        f"  {shape.params:,} parameters, {shape.num_layers} layers, vocabulary {shape.vocab:,}; LoRA r{s.rank} on "
        f"{shape.lora_modules} modules ({', '.join(spec.targets)}): {shape.lora_params(s.rank):,} parameters",
        f"settings: batch {s.batch} x {s.seq_len} tokens ({padded}), {s.quant if s.quant != 'none' else 'no quantisation'}, "
        f"{s.backend}, {gc[s.gradient_checkpointing]}, {s.optimizer}; generate {s.gen_batch} x "
        f"({s.prompt_len} + {s.new_tokens}) tokens",
        "",
        f"predicted peaks on {g.name} ({dtype}{', calibrated' if verdict.calibrated else ', not calibrated'}):",
        *_phase_lines(pred),
        f"  {verdict.reason}",
        "",
        "fits on the team's GPUs (the dtype each trains in; the first is the assumption):",
        f"  {'GPU':<24}{'dtype':<7}{'predicted peak':>16}{'memory':>12}  verdict",
    ]  # fmt: skip
    for v in fit_table(spec.config, s, TEAM_GPUS):
        lines.append(f"  {v.gpu:<24}{v.dtype:<7}{v.predicted_mib:>12,.0f} MiB{v.memory_mib:>8,.0f} MiB  {v.reason}")
    best_batch = largest(spec.config, s, g, "batch")
    best_rank = largest(spec.config, s, g, "rank")
    what_b = f"batch {best_batch:,}" if best_batch else "not even batch 1"
    what_r = f"rank {best_rank:,}" if best_rank else "not even rank 1"
    lines += [
        "",
        f"largest that fits on {g.name} ({dtype}): {what_b} at rank {s.rank} and {s.seq_len} tokens; "
        f"{what_r} at batch {s.batch}",
    ]
    train = pred["train"]
    slack = train.nvml_terms[0].mib
    lines.append(f"  (the train peak holds {slack:,.0f} MiB of allocator slack; torch allocated + context alone: "
                 f"{train.torch_allocated_mib + train.nvml_terms[1].mib:,.0f} MiB)")  # fmt: skip
    if args.seq_len is None:
        lines.append("  rows shorter than --max-length need less: give --seq-len with your longest row's tokens")
    notes = sorted({n for p in pred.values() for n in p.notes})
    if notes:
        lines += ["", "notes:", *(f"  - {n}" for n in notes)]
    if g.note:
        lines.append(f"  - {g.name}: {g.note}")
    print("\n".join(lines))
    return 0
