"""Quality: composites computed now from the stored per-answer scores, base vs tuned, every metric,
paired comparisons of the best runs, human grades, sample answers."""

from __future__ import annotations

import itertools
from typing import Any

from harness.fmt import ci_text, diff_text
from harness.quality.bootstrap import ci_dict, paired_bootstrap
from harness.report.load import SHAPE_BANNER, Run, grade_summary
from harness.report.render import Banner, Code, Details, Paragraph, Section, Table
from harness.report.sections.base import Context

SAMPLE_ANSWERS = 3
TOP_RUNS_COMPARED = 3


def build(ctx: Context) -> Section:
    s = Section("quality", "Quality")
    a = ctx.analysis
    runs = [r for r in ctx.runs if (r.ok or r.status == "mismatch") and (r.key in a.quality or r.metrics("tuned"))]
    if not runs:
        s.p("No run has quality scores.", "note")
    weights = ", ".join(f"{k} {v:g}" for k, v in a.quality_weights.items() if v > 0)
    formula = next((q.block.get("formula") for q in a.quality.values()), None)
    if formula:
        s.add(Code(str(formula), "Composite formula (0..100)"))
        s.p(
            f"Weights ({a.quality_weights_from}): {weights}. Composites are computed when the report is built,"
            " from the per-answer scores each run stored: other weights need no rerun."
        )
    rows = []
    for r in runs:
        q = a.quality.get(r.key)
        tvb = q.tuned_vs_base if q else None
        rows.append(
            [
                r.label,
                "no (shape)" if r.shape else "yes",
                ci_text(q.stage("base") if q else None),
                ci_text(q.stage("tuned") if q else None),
                diff_text(tvb),
                tvb.get("verdict") if tvb else None,
            ]
        )
    s.add(
        Table(
            [
                "run",
                "meaningful",
                "base composite [95% CI]",
                "tuned composite [95% CI]",
                "tuned − base (paired)",
                "verdict (A = tuned)",
            ],
            rows,
            title="Base vs tuned",
            shape=any(r.shape for r in runs),
            empty="No scored runs.",
        )
    )
    per_run: list[Any] = []
    for r in runs:
        q = a.quality.get(r.key)
        mrows = [
            [
                "composite",
                ci_text(q.stage("base") if q else None, 3),
                ci_text(q.stage("tuned") if q else None, 3),
                ((q.stage("tuned") or q.stage("base") or {}) if q else {}).get("n"),
            ]
        ]
        for m in dict.fromkeys(r.metrics("base") + r.metrics("tuned")):
            mrows.append(
                [
                    m,
                    ci_text(r.metric("base", m), 3),
                    ci_text(r.metric("tuned", m), 3),
                    (r.metric("tuned", m) or r.metric("base", m) or {}).get("n"),
                ]
            )
        per_run.append(Table(["metric", "base [95% CI]", "tuned [95% CI]", "n"], mrows, title=r.label, shape=r.shape))
    if per_run:
        s.add(Details(f"Every metric, base vs tuned, per run ({len(per_run)} runs)", per_run))
    s.add(paired_table(ctx, runs))
    s.add(*grades_blocks(ctx))
    samples = sample_blocks(ctx, runs)
    if samples:
        s.add(Details(f"Sample answers ({len(samples)} runs, up to {SAMPLE_ANSWERS} prompts each)", samples))
    return s


def _tuned(ctx: Context, r: Run) -> dict[str, float]:
    q = ctx.analysis.quality.get(r.key)
    return q.per_prompt.get("tuned", {}) if q else {}


def paired_table(ctx: Context, runs: list[Run]) -> Table:
    scored = [r for r in runs if r.ok and _tuned(ctx, r)]
    pool = [r for r in scored if not r.shape] or scored
    mean = {r.key: ctx.analysis.quality[r.key].stage("tuned")["mean"] for r in pool}  # type: ignore[index]
    top = sorted(pool, key=lambda r: -mean[r.key])[:TOP_RUNS_COMPARED]
    rows = []
    for a, b in itertools.combinations(top, 2):
        sa, sb = _tuned(ctx, a), _tuned(ctx, b)
        ids = [i for i in sa if i in sb]
        if len(ids) < 2:
            continue
        d = paired_bootstrap([sa[i] for i in ids], [sb[i] for i in ids], resamples=2000)
        rows.append([a.label, b.label, d.get("n"), diff_text(d), d.get("verdict")])
    return Table(
        ["A", "B", "shared prompts", "A − B tuned composite [95% CI]", "verdict"],
        rows,
        title=f"Paired bootstrap between the top {len(top)} runs by tuned composite",
        caption="Prompts resampled as pairs; a winner is named only when the interval excludes 0.",
        shape=any(r.shape for r in top),
        empty="Fewer than two top runs share prompts with per-answer scores.",
    )


def grades_blocks(ctx: Context) -> list[Any]:
    if ctx.rs.grades is None:
        return [Paragraph("No human grades (grades.json) in this folder.", "note")]
    by_key = {r.key: r for r in ctx.rs.runs}
    rows = []
    for g in grade_summary(ctx.rs.grades):
        ci = ci_dict(g["values"])
        run = by_key.get(g["key"])
        rows.append(
            [run.label if run else f"{g['key'][:12]} (no result file)", g["stage"], ci_text(ci, 2), ci.get("n")]
        )
    return [
        Table(
            ["run", "stage", "mean grade 1..5 [95% CI]", "answers graded"],
            rows,
            title="Human grades (최상 5 … 최하 1)",
            empty="grades.json has no grades in the expected layout.",
        )
    ]


def sample_blocks(ctx: Context, runs: list[Run]) -> list[Any]:
    out: list[Any] = []
    for r in runs:
        answers = r.result.answers
        if not answers:
            continue
        q = ctx.analysis.quality.get(r.key)
        ids = (
            list(dict.fromkeys(a.id for a in answers if a.stage == "tuned"))[:SAMPLE_ANSWERS]
            or list(dict.fromkeys(a.id for a in answers))[:SAMPLE_ANSWERS]
        )
        blocks: list[Any] = [Banner(SHAPE_BANNER)] if r.shape else []
        for aid in ids:
            first = next(a for a in answers if a.id == aid)
            text = [
                f"prompt: {first.prompt}",
                f"reference: {first.reference if first.reference is not None else '(none: graded by hand)'}",
            ]
            for a in answers:
                if a.id == aid:
                    comp = q.per_prompt.get(a.stage, {}).get(a.id) if q else None
                    text.append(f"{a.stage}{f' (composite {comp:.1f})' if comp is not None else ''}: {a.answer}")
            blocks.append(Code("\n".join(text), f"id {aid}"))
        out.append(Details(f"Sample answers: {r.label}", blocks))
    return out
