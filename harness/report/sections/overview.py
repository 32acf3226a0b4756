"""What was run: the command as typed, how many result files, what set the figures apart from a team's run
(stand-in tokenizers, RWKV without its kernel), which planned runs have none, corrupt files."""

from __future__ import annotations

from collections import Counter

from harness.fmt import join_and
from harness.report.render import Code, Section, Table
from harness.report.sections.base import Context


def build(ctx: Context) -> Section:
    s = Section("overview", "What was run")
    rs = ctx.rs
    s.add(Code(rs.command or "(the manifest records no command)", "Command"))
    counts = Counter(r.status_text for r in rs.runs)
    found = ", ".join(f"{n} {st}" for st, n in sorted(counts.items())) or "none"
    s.p(f"{len(rs.runs)} result files read ({found}); {len(rs.corrupt)} corrupt file(s) skipped.")
    if any(r.injected for r in rs.runs):
        s.p(
            "Runs marked (injected) failed on purpose: a fault was injected to test the harness (HARNESS_FAULTS);"
            " they say nothing about the model.",
            "warn",
        )
    stand_in = sorted(
        {r.candidate for r in rs.runs if r.result.weights and r.result.weights.tokenizer_kind == "stand-in"}
    )
    if stand_in:
        s.p(
            f"Stand-in tokenizer for {join_and(stand_in)}: the real one was not reachable, so a byte-level BPE"
            " trained on the data file set the sequence lengths. Step time, memory and answer lengths follow"
            " those lengths, not the model's own; with the real tokenizer they move with the tokens per row.",
            "warn",
        )
    cut = [r for r in rs.runs if r.result.weights and r.result.weights.train_rows_truncated]
    if cut:
        each = "; ".join(
            f"{r.label}: {r.result.weights.train_rows_truncated} of {r.result.request.data.train_rows} rows"
            f" longer than max_length {r.result.request.train.max_length}, up to"
            f" {r.result.weights.train_tokens_cut_max or 0:,} tokens cut from one"
            for r in cut[:6]
            if r.result.weights is not None
        ) + ("; ..." if len(cut) > 6 else "")
        s.p(
            f"Training rows cut to max_length: the trainer cut every training row longer than train.max_length to"
            f" it, so those rows trained on their start only ({each}). Step time and memory are those of the cut"
            " rows; raise train.max_length (or use shorter rows) to train on them whole.",
            "warn",
        )
    rwkv = [r for r in rs.runs if r.result.request.candidate.model_type == "rwkv" and r.result.effective]
    loops = sorted({r.candidate for r in rwkv if (r.result.effective.attention or "").startswith("rwkv pytorch")})
    unknown = sorted({r.candidate for r in rwkv if r.result.effective.attention is None})
    if loops or unknown:
        how = "ran" if loops else "may have run (not recorded by these runs)"
        s.p(
            f"{join_and(loops or unknown)} {how} RWKV attention as transformers' PyTorch loop: its CUDA kernel"
            " comes from the hub (the `kernels` package, ninja) and loads only where both are. With it, steps"
            " are several times faster: read these times as an upper bound.",
            "warn",
        )
    planned = rs.planned_keys
    if planned:
        have = {r.key for r in rs.runs}
        missing = [k for k in planned if k not in have]
        if missing:
            labels = rs.planned_labels
            names = ", ".join(labels.get(k) or k[:12] for k in missing[:8]) + (" ..." if len(missing) > 8 else "")
            s.p(
                f"The manifest plans {len(planned)} runs; {len(missing)} have no readable result file"
                f" (not run yet, or corrupt): {names}.",
                "warn",
            )
        else:
            s.p(f"The manifest plans {len(planned)} runs; every one has a result file.", "note")
    if rs.corrupt:
        s.add(
            Table(
                ["file", "why it was skipped"],
                [[f"runs/{f}", why] for f, why in rs.corrupt],
                title="Corrupt result files",
            )
        )
    return s
