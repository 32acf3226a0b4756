"""reports/memory-model/README.md: the command, the model, the fit, the validation tables, the T4 check.

Every number in it is computed when it is written (python -m harness.memory.fit --write); the prose
around the far-off T4 cells is chosen by tests on those numbers, not written per candidate.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.atomic import atomic_write_text
from harness.backends import REGISTRY
from harness.memory.activations import layer_activations
from harness.memory.coefficients import Coefficients
from harness.memory.gpus import GPUS, TEAM_GPUS
from harness.memory.gpus import gpu as find_gpu
from harness.memory.loo import LooRow, loo_summary, loo_table
from harness.memory.model import Settings, predict
from harness.memory.runs import Observation
from harness.memory.source import candidates, from_candidate
from harness.memory.team import T4Row, t4_markdown
from harness.memory.verdict import fit_table

STUDY = ("gemma-2-2b-it", "koquality-polyglot-1.3b", "gemma-ko-v01", "polyglot-ko-1.3b", "llama1B",
         "KoAlpaca-KoRWKV-1.5B", "FinguAI-Chat-v1")  # fmt: skip

# The backends the model's terms treat apart, by their names in prose (the classes say which).
FUSED_LOSS = " and ".join(b.title for b in REGISTRY.values() if not b.holds_logits)
UNCALIBRATED = ", ".join(b.title for b in REGISTRY.values() if not b.memory_calibrated)


def _t4_explanations(rows: list[T4Row]) -> list[str]:
    out: list[str] = []
    by_cand: dict[str, list[T4Row]] = {}
    for r in rows:
        by_cand.setdefault(r.candidate, []).append(r)
    published = {name: tuple(r.published for r in rs) for name, rs in by_cand.items()}
    for name, rs in by_cand.items():
        errs = "/".join(f"{r.err * 100:+.1f}%" for r in rs)
        said: list[str] = []
        twins = [n for n, p in published.items() if n != name and p == published[name]]
        if twins:
            said.append(f"their figures are identical, cell for cell, to {', '.join(twins)}'s")
        if rs[0].alt_targets:
            alt = "/".join(f"{(r.alt_predicted - r.published) / r.published * 100:+.1f}%" for r in rs)  # type: ignore[operator]
            said.append(f"the increments between their ranks match LoRA on {rs[0].alt_targets}: with that set the "
                        f"cells are off by {alt} (with ours {errs})")  # fmt: skip
        for r in rs:
            if r.stacked is None or abs(r.err) < 0.01:
                continue
            serr = (r.stacked - r.published) / r.published
            if abs(serr) < 0.005:
                said.append(f"r{r.rank} ({r.err * 100:+.1f}%) matches the lower ranks' adapters left on the model "
                            f"(their parameters at 4 bytes each, their optimizer state freed): "
                            f"{r.stacked:,.0f} MiB ({serr * 100:+.1f}%); the other cells do not")  # fmt: skip
        gap = rs[0].weights_gap
        if gap is not None and abs(gap) >= 5 and not rs[0].alt_targets:
            said.append(f"their inference figure (the weights alone) is {gap:+,.0f} MiB from our weights for this "
                        f"config, and the training cells carry about the same offset ({errs}): the gap is in the "
                        f"weights they loaded, not in the LoRA or optimizer terms")  # fmt: skip
        if said or max(abs(r.err) for r in rs) >= 0.01:
            out.append(f"- **{name}** ({errs}): " + ("; ".join(said) if said else "no reading found") + ".")
    return out


def _fits_rows(seq_len: int, prompt_len: int, measured: dict[tuple[str, int], float], coef: Coefficients) -> str:
    heads = [f"{find_gpu(k).name} {d}" for k in TEAM_GPUS for d in GPUS[k].dtypes]
    out = ["| candidate | rank | " + " | ".join(heads) + " |", "|---|---:|" + "---|" * len(heads)]
    for c in candidates():
        if c["name"] not in STUDY:
            continue
        spec = from_candidate(c)
        for rank in (16, 32, 64):
            s = Settings(rank=rank, batch=4, seq_len=seq_len, prompt_len=prompt_len, gen_batch=25, new_tokens=80,
                         targets=spec.targets)  # fmt: skip
            cells = []
            for v in fit_table(spec.config, s, coefficients=coef):
                mark = "fits" if v.fits else ("no (capability)" if not v.capability_ok else "no")
                cell = f"{v.predicted_mib:,.0f} {mark}"
                m = measured.get((c["name"], rank)) if v.gpu == GPUS["H100"].name else None
                cells.append(cell + (f" (measured {m:,.0f})" if m is not None else ""))
            out.append(f"| {c['name']} | {rank} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def _model_terms(obs: Observation, coef: Coefficients) -> str:
    pred = predict(obs.config, obs.settings, "H100", coef)
    lines = ["| phase | term | MiB | from |", "|---|---|---:|---|"]
    for ph, p in pred.items():
        for t in (*p.terms, *p.nvml_terms):
            lines.append(f"| {ph} | {t.name} | {t.mib:,.1f} | {t.basis} |")
        lines.append(f"| {ph} | **torch allocated / NVML process** | **{p.torch_allocated_mib:,.0f} / "
                     f"{p.nvml_process_mib:,.0f}** | |")  # fmt: skip
    return "\n".join(lines)


def write_readme(
    out: Path,
    coef: Coefficients,
    obs: list[Observation],
    by_cand: list[LooRow],
    by_family: list[LooRow],
    t4: list[T4Row],
    command: str = "bash benchmarks/memory-model.sh",
) -> None:
    example = next((o for o in obs if o.candidate == "gemma-2-2b-it" and o.settings.rank == 16), obs[0])
    acts = layer_activations(example.config["model_type"], {k: v for k, v in example.config.items()
                             if k != "model_type"}, example.settings.targets, "autocast16")  # fmt: skip
    measured: dict[tuple[str, int], float] = {}
    for o in obs:
        if o.gpu == GPUS["H100"].name:
            measured[(o.candidate, o.settings.rank)] = max(m.nvml_process_mib or 0 for m in o.phases.values())
    seq = sorted({o.settings.seq_len for o in obs})
    prompt = sorted({o.settings.prompt_len for o in obs})
    notes = sorted({o.tokens_note for o in obs})
    warm = [o.label for o in obs if o.allocator_warm]
    fam_err = max(abs(r.alloc_err) for r in by_family) if by_family else float("nan")
    text = f"""# Memory model: which of the team's GPUs can run it

Predicted peaks per phase (train, generate) from a model's config and a run's settings, checked
against our measured H100 runs (leave one candidate out) and against the team's own T4 table.

**Command** (CPU only, no GPU run; {dt.date.today().isoformat()}):

    {command}
    # = python -m harness.memory.fit --write reports/seed-study-h100-m2 reports/bench-gemma-2-2b-it-r16-h100 reports/sweep-failure-h100

It writes this file, `loo-candidate.csv`, `loo-family.csv`, `t4-team.csv` and
`harness/memory/coefficients.yaml`. Activation bytes were counted with {acts.source.split("(")[-1].rstrip(")")};
the runs were measured with torch 2.11.0, transformers 5.17.0, peft 0.21.0, trl 1.14.2 (each run file
records its environment). The instant answer for any model: `python -m harness fits --model gemma-2-2b-it
--rank 64 --batch 4 --max-length 256 --gpu T4`.

## The model

A peak is a sum of terms, each from theory, counted from the autograd graph, or fitted. Training's peak
is at the start of the backward pass: every activation still saved, the loss's gradients over the
vocabulary being made, the optimizer state present and the LoRA gradients not yet (zeroed with
set_to_none). Generation's peak (after training, the trainer gone) holds weights, fp32 adapters, the KV
cache and a few copies of the last position's logits. For gemma-2-2b-it at rank 16 as measured:

{_model_terms(example, coef)}

- **Weights**: parameters x dtype bytes (counted on a meta-device build of the config, tied embeddings once).
  nf4: 0.5 byte per quantised weight + 1/64 byte (8-bit absmax per 64-block) + 4/16384 byte (fp32 absmax
  per 256 blocks) = 4.127 bits; the rest (embeddings, norms, biases, an untied output layer) in fp32, as
  `prepare_model_for_kbit_training` casts it; one weight dequantised at a time on top.
- **LoRA**: A is r x in, B is out x r for each target module (peft's matching), fp32 (peft 0.21's
  `autocast_adapter_dtype=True` upcasts adapters on a 16-bit base; the runs' `fp32_params` equal their
  trainable parameters). AdamW adds 8 bytes per parameter; autocast keeps a 2-byte copy of each fp32 LoRA
  weight during the forward. 4 + 8 + 2 = 14 bytes per LoRA parameter at the peak: the measured slope
  between ranks is 14.0 to 14.7 bytes per parameter.
- **Activations**: counted, not guessed: `harness.memory.activations` builds two full-width layers on the
  CPU, runs them forward under `saved_tensors_hooks` at three lengths and counts every saved storage once
  (gemma-2-2b-it: {acts.per_token_layer:,.0f} bytes per token and layer at rank 16, plus a bool dropout
  mask of {acts.lora_in_features_per_layer:,.0f} bytes). Corrections from theory for what the CPU does
  differently: bool dropout masks, fp32 LayerNorm inputs under CUDA autocast. With gradient checkpointing:
  one hidden state per token and layer plus one layer recomputed (theory; not measured).
- **Logits**: the chain the loss saves is counted (fp32 log-softmax: 4 bytes per token x vocabulary
  entry, 6 with Gemma 2's final soft-capping); its backward adds a fitted
  {coef.logits_transient_bytes:.2f} bytes (two fp32 gradients would be 8). {FUSED_LOSS} never holds them (term
  dropped, not measured).
- **KV cache**: counted from a forward with `use_cache=True` (bytes per token and layer).
- **cuBLAS workspaces**: torch allocates one per thread and stream from its caching allocator (so it is
  in `memory_allocated`): 32 MiB on compute capability 9.x, 8.125 MiB before; training has two (forward
  thread, autograd's backward thread).
- **NVML process** = torch allocated + allocator slack (fitted: {coef.slack_train_per_logits_byte:.2f} x the
  fp32 logits in training, {coef.slack_generate_mib:.0f} MiB in generation) + the CUDA context (measured
  as NVML - reserved on the H100: {", ".join(f"{p} {v:.0f} MiB" for p, v in next(iter(coef.context_mib.values())).items())};
  not measured on the M6000 or T4, where the H100 figure is assumed).

**Fitted coefficients** (all {len(obs)} runs): k_act = {coef.k_act:.3f} (scale on counted activations),
loss backward {coef.logits_transient_bytes:.2f} B per token x vocabulary, generation logits
{coef.generate_logits_bytes:.1f} B per row x vocabulary, slack as above. Source: `coefficients.yaml`.

**Token counts.** The runs do not store tokens per row, so they are recomputed from each run's data file
and tokenizer, as trl tokenises (prompt + completion with the end token, truncated to max_length) and as
generation pads (each batch to its longest prompt): {"; ".join(notes)}.
The training peak is the step whose batch holds the longest row (padded to it; every epoch has one), so
the activation and logits terms use batch x longest row = {", ".join(f"4 x {s}" for s in seq)} tokens;
generation uses 25 rows x ({", ".join(map(str, prompt))} + 80) tokens. Uncertainty: the stand-in tokenizer
is retrained here from the same file (same sha256); tokenizers 0.23.3 here, 0.23.2 on the GPU machine. All
runs share the same lengths, so the fit cannot tell a per-token term from a constant: the split rests on
the counted graph and theory, and the leave-one-out test below does not test other lengths. The `fits`
command assumes every row padded to max_length (the worst case) unless `--seq-len` says otherwise.

## Leave one candidate out (H100, bf16, batch 4)

For each candidate: fit on the others' runs, predict this one's torch max allocated and NVML process
peak at each rank. koquality-polyglot-1.3b and polyglot-ko-1.3b are the same architecture (vocabulary
30,003 vs 30,080), so leaving one out keeps its twin in the fit; the family table below is the stricter
test.

{loo_summary(by_cand)}

{loo_table(by_cand, "left out")}

The processes of {", ".join(warm) or "no run"} built the shape-mode weights on the GPU before loading
them (`one_time.shape_build_s`) and their allocator kept some of those blocks reserved, so their NVML
figures carry extra slack (most visible for the larger models); slack is fitted on the other runs.

## Leave one architecture family out

The same, leaving out every run of a family (gemma2, gemma, gpt_neox, llama) at once; largest torch
allocated error {fam_err * 100:.1f}%.

{loo_summary(by_family)}

{loo_table(by_family, "family left out")}

## The team's T4 table (`published.finetune_mb`)

Their figure is `torch.cuda.memory_allocated()` after training, with the trainer alive: weights (fp16)
+ LoRA parameters (fp32, 4 B) + AdamW state (8 B) + the two cuBLAS workspaces (2 x 8.125 MiB on a
T4). Theory only: no coefficient fitted to our runs enters these predictions, and our targets are
candidates.yaml's. The last two columns are readings of what their notebook did differently, tested on
the increments between their ranks (a constant cancels there): peft's default targets for the model
type and our list with one entry left out, kept only where the increments match at least 3x better.

{t4_markdown(t4)}

Far-off cells (|error| 1% or more):

{chr(10).join(_t4_explanations(t4)) or "- none"}

## Fits on the team's GPUs (seed-study settings: batch 4, 25 answers x 80 new tokens)

Predicted NVML process peak (MiB, the larger of train and generate) per GPU and the dtype it trains in
(dtype auto, harness/dtypes.py: fp16 on the M6000, fp32 also shown; T4: fp16; H100: bf16), with memory {", ".join(f"{g.name} {g.memory_mib:,.0f} MiB" for g in GPUS.values())}.
Only bf16 on the H100 is calibrated; fp16 and fp32 rows use the same model with their byte sizes.

Rows padded to max_length 256 (the worst case; `fits` assumes this):

{_fits_rows(256, 64, {}, coef)}

With the team's data as the runs measured it (longest row {max(seq)} tokens, longest prompt {max(prompt)}),
measured H100 NVML peak beside the prediction:

{_fits_rows(max(seq), max(prompt), measured, coef)}

## Not covered

No fp16, fp32, nf4, {UNCALIBRATED} or gradient-checkpointing run was measured: those predictions use
theory and counted graphs only and `fits` marks them uncalibrated. All runs used one sequence length
(see token counts). KoAlpaca-KoRWKV-1.5B and FinguAI-Chat-v1 have no H100 run yet; RWKV's activations
are counted on the CPU path of its attention, not its CUDA kernel. The CUDA context of the M6000 and T4 is
not measured. Add later runs: rerun the command with their report folders.
"""
    atomic_write_text(out / "README.md", text)
