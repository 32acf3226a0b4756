"""Ours beside the team's own hand-measured T4 figures (the candidate stored in each run carries them)."""

from __future__ import annotations

from typing import Any

from harness.fmt import fnum, ratio, secs
from harness.report.render import Section, Table
from harness.report.sections.base import Context

COLUMNS = [
    "run (ours)",
    "our GPU",
    "fine-tune ours",
    "fine-tune theirs (T4)",
    "ratio",
    "train NVML peak MiB ours",
    "train torch alloc peak MiB ours",
    "MB theirs (allocated after training)",
    "ratio (alloc)",
    "s/answer ours, one at a time",
    "s/answer ours, batched",
    "s/answer theirs (one at a time)",
    "ratio (one at a time)",
    "gen torch alloc peak MiB ours",
    "inference MB theirs",
    "ratio (alloc)",
]


def _by_rank(d: Any) -> dict[int, float]:
    return {int(k): float(v) for k, v in (d or {}).items()}


def build(ctx: Context) -> Section:
    s = Section("published", "Ours vs the team's published figures")
    s.p(
        "The team's own figures (marked 'theirs') were measured by hand on a Colab Tesla T4. Their memory figure is"
        " torch.cuda.memory_allocated() after training, not a peak: it leaves out activations, the caching"
        " allocator's reserve and the CUDA context, so it is lower than any peak of ours. The closest figure of"
        " ours is torch max allocated; ratios are ours / theirs. Our GPU may not be a T4. Their figures come from"
        " the candidate each run stored."
    )
    rows, shown = [], []
    for r in ctx.ok_runs:
        pub = r.info.get("published")
        if not isinstance(pub, dict) or r.request.emulate is not None:  # an emulated run's time is not that GPU's
            continue
        shown.append(r)
        fs, fm = _by_rank(pub.get("finetune_s")), _by_rank(pub.get("finetune_mb"))
        # the batched answers' phase, else (shape mode runs none) the one-at-a-time answers'
        batched = r.phase("generate_tuned")
        train, gen = r.phase("train"), batched or r.phase("latency_tuned")
        g = r.gen("tuned")
        t_alloc = train.torch_max_allocated_mib if train else None
        g_alloc = gen.torch_max_allocated_mib if gen else None
        their_s = fs.get(r.rank) if r.rank is not None else None
        their_mb = fm.get(r.rank) if r.rank is not None else None
        rows.append(
            [
                r.label,
                r.gpu_name or ("CPU" if r.device == "cpu" else None),
                secs(r.train_s) if r.train_s is not None else None,
                secs(their_s) if their_s is not None else None,
                ratio(r.train_s, their_s),
                fnum(train.nvml_process_peak_mib, 0) if train else None,
                fnum(t_alloc, 0),
                fnum(their_mb, 0),
                ratio(t_alloc, their_mb),
                fnum(g.latency_s_per_answer, 2) if g else None,
                f"{g.s_per_answer:.2f} (batch {g.batch_size})" if g and batched else None,
                fnum(pub.get("inference_s"), 2),
                ratio(g.latency_s_per_answer if g else None, pub.get("inference_s")),
                fnum(g_alloc, 0),
                fnum(pub.get("inference_mb"), 0),
                ratio(g_alloc, pub.get("inference_mb")),
            ]
        )
    s.add(
        Table(
            COLUMNS, rows, shape=any(r.shape for r in shown), empty="No ok run of a candidate with published figures."
        )
    )
    return s
