"""Backends against the plain one (`harness.backends.PLAIN`): steady speed-up with its interval, one-time cost,
memory saved, the job length at which a backend pays back its compilation, the loss curves, the smallest team
GPU of each, and a backend's published claim beside ours."""

from __future__ import annotations

from harness.backends import REGISTRY, PublishedClaim
from harness.fmt import gib, join_and, secs
from harness.report import plots
from harness.report.analysis.backends import PLAIN, Pair
from harness.report.analysis.memory import smallest_fit
from harness.report.analysis.stats import Est
from harness.report.load import SHAPE_BANNER
from harness.report.render import Section, Table
from harness.report.sections.base import Context, est

# each backend's published claim (`Backend.claim`), set beside the pairs of that backend
CLAIMS = {name: b.claim for name, b in REGISTRY.items() if b.claim is not None}
COLUMNS = [
    "model / rank / quant",
    "backend",
    "steady s/step plain",
    "steady s/step backend",
    "speed-up (plain/backend) [95% CI]",
    "one-time plain",
    "one-time backend",
    "pays back its one-time cost",
    "ran on",
    "user-work peak plain",
    "user-work peak backend",
    "memory saved",
    "smallest team GPU plain",
    "smallest team GPU backend",
]


def build(ctx: Context) -> Section | None:
    pairs, alone = ctx.analysis.pairs, ctx.analysis.unpaired
    if not pairs and not alone:
        return None
    s = Section("backends", f"Backends against plain {PLAIN}")
    s.p(
        f"Each backend against plain {PLAIN} at the same model, rank and quantisation. Speed-up = plain steady step /"
        " backend steady step (95% bootstrap over the steps of both). One-time cost = everything from the"
        " command to the first steady step, alike on both sides: start-up before the load (a backend that must"
        " start a fresh interpreter pays for it), load, setup, the burn-in's excess, each new token shape's"
        " first step, compilation. A backend with faster steps but a larger one-time cost pays it back after"
        " (extra one-time) / (time saved per step) steps; the team's job length decides whether it does."
    )
    s.add(
        Table(
            COLUMNS,
            [_row(ctx, p) for p in pairs],
            shape=any(p.plain.shape or p.other.shape for p in pairs),
            empty=f"No backend run has a plain {PLAIN} run to compare with.",
        )
    )
    for p in pairs:
        for n in p.notes:
            s.p(f"{p.where} {p.backend}: {n}.", "note")
    if alone:
        s.p(f"No plain {PLAIN} run to compare with: {join_and(c.label for c in alone)}.", "note")
    for name, claim in CLAIMS.items():
        claimed = [p for p in pairs if p.backend == name]
        if claimed:
            s.p(claim.text)
            s.p(_claim_comparison(claimed, claim))
    if pairs:
        shape = any(p.plain.shape or p.other.shape for p in pairs)
        data = [
            (
                f"{p.where} {p.backend}",
                p.other.steady.mean / p.plain.steady.mean if p.other.steady.mean and p.plain.steady.mean else None,
                p.other.peak.mib / p.plain.peak.mib if p.other.peak.mib and p.plain.peak.mib else None,
            )
            for p in pairs
        ]
        s.add(
            ctx.figure(
                "backends_vs_plain",
                f"Backends vs plain {PLAIN}",
                plots.backends_vs_plain(data, SHAPE_BANNER if shape else None, list(CLAIMS.values())),
                shape,
            )
        )
        curves = _loss_curves(pairs)
        if curves:
            s.add(
                ctx.figure(
                    "loss_curves",
                    "Loss curves by backend",
                    plots.loss_curves(curves),
                    shape,
                    "Same data and seed: the backends' curves should agree; a gap means they do not"
                    " compute the same training.",
                )
            )
    return s


def _row(ctx: Context, p: Pair) -> list[object]:
    def small(c: object) -> str | None:
        fit = c.fit  # type: ignore[attr-defined]
        if fit is None or not fit.applicable:
            return None
        g = smallest_fit(fit, ctx.prices)
        return g.name if g else "none"

    saved = p.peak_saved_mib
    base = p.plain.peak.mib
    return [
        p.where,
        p.backend,
        est(p.plain.steady, 3),
        est(p.other.steady, 3),
        _times(p.speedup),
        secs(p.plain.one_time.mean) if p.plain.one_time.mean is not None else None,
        secs(p.other.one_time.mean) if p.other.one_time.mean is not None else None,
        p.pays_back or None,
        p.machines.text if p.machines is not None else None,
        gib(p.plain.peak.mib) if p.plain.peak.mib is not None else None,
        gib(p.other.peak.mib) if p.other.peak.mib is not None else None,
        f"{gib(saved)} ({saved / base:.0%})" if saved is not None and base else None,
        small(p.plain),
        small(p.other),
    ]


def _times(e: Est) -> str | None:
    if e.mean is None:
        return None
    return f"{e.mean:.2f}x" + (f" [{e.lo:.2f}, {e.hi:.2f}]" if e.lo is not None and e.hi is not None else "")


def _claim_comparison(pairs: list[Pair], claim: PublishedClaim) -> str:
    settings = set()
    for p in pairs:
        e = p.other.first.result.effective
        settings.add(
            (
                p.other.quant,
                e.per_device_batch if e else None,
                e.grad_accum if e else None,
                p.other.rank,
                e.gradient_checkpointing if e else None,
            )
        )
    ours = "; ".join(
        f"quant {q}, batch {b if b is not None else '?'}, accumulation {a if a is not None else '?'},"
        f" rank {r}, gradient checkpointing {gc}"
        for q, b, a, r, gc in sorted(settings, key=str)
    )
    diffs = sorted(
        {
            f"{name} (ours {v}, claim {said})"
            for st in settings
            for (name, said), v in zip(claim.settings.items(), st[:4], strict=True)
            if str(v) != str(said)
        }
    )
    return f"Ours ran on: {ours}." + (f" Not like for like: {'; '.join(diffs)}." if diffs else "")


def _loss_curves(pairs: list[Pair]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for p in pairs:
        for c in (p.plain, p.other):
            curve = c.first.result.loss_curve
            if curve:
                out.setdefault(f"{p.where} {c.backend}", [(int(s), float(v)) for s, v in curve])
    return out
