"""build_report: results folder -> results.csv, candidates/*.csv, plots/*.png, report.md, report.html."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.atomic import atomic_write_bytes, atomic_write_text
from harness.config import REPO_ROOT
from harness.report import plots
from harness.report.frames import candidate_frame, results_frame, safe_file_name, sort_runs, write_csv
from harness.report.load import PACKAGES_SHOWN, SHAPE_BANNER, ResultSet, Run, grade_summary, load_results
from harness.report.prices import DEFAULT_PRICES_FILE, PriceTable
from harness.report.ranking import TERMS, Ranking, choice_sentence, gib, rank, secs
from harness.report.render import Banner, Code, Details, Figure, Paragraph, Section, Table, render_page
from harness.report.stats import LOCAL_FALLBACK, mean_ci, paired_diff

UNSLOTH_CLAIM = (
    "Unsloth's published claim: about 2x faster training and about 70% less memory, measured on QLoRA (4-bit)"
    " with batch 2, gradient accumulation 4 and LoRA rank 32."
)
CLAIM_SETTINGS = {"quant": "nf4", "per_device_batch": 2, "grad_accum": 4, "lora_rank": 32}
SAMPLE_ANSWERS = 3
TOP_RUNS_COMPARED = 3


@dataclass
class ReportFiles:
    folder: Path
    results_csv: Path
    candidate_csvs: list[Path]
    markdown: Path
    html: Path
    plots: list[Path]
    notes: list[str] = field(default_factory=list)

    @property
    def csv(self) -> Path:
        """results.csv (alias)."""
        return self.results_csv

    @property
    def all(self) -> list[Path]:
        return [self.results_csv, *self.candidate_csvs, *self.plots, self.markdown, self.html]


# ---------------------------------------------------------------- formatting


def fnum(v: float | None, digits: int = 1) -> str | None:
    return None if v is None else f"{v:.{digits}f}"


def ci_text(d: dict[str, Any] | None, digits: int = 1) -> str | None:
    if not d or d.get("mean") is None:
        return None
    s = f"{d['mean']:.{digits}f}"
    if d.get("lo") is not None and d.get("hi") is not None:
        s += f" [{d['lo']:.{digits}f}, {d['hi']:.{digits}f}]"
    return s


def ratio(a: float | None, b: float | None) -> str | None:
    return None if a is None or b is None or b == 0 else f"{a / b:.2f}"


def money(v: float | None, currency: str) -> str | None:
    if v is None:
        return None
    amount = f"{v:.4f}" if v < 1 else f"{v:,.2f}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def mem_cell(mib: float | None, measure: str | None) -> str | None:
    if mib is None:
        return None
    mark = {"host RSS": " RSS", "torch reserved": " *"}.get(measure or "", "")
    return gib(mib) + mark


def run_label(run: Run) -> str:
    base = f"{run.candidate} r{run.rank} {run.backend} {run.quant}"
    return base + (" shape" if run.weights_mode == "shape" else "")


# ---------------------------------------------------------------- sections


class Builder:
    def __init__(self, rs: ResultSet, prices: PriceTable, ranking: Ranking) -> None:
        self.rs = rs
        self.prices = prices
        self.ranking = ranking
        self.figures: list[Figure] = []
        self.notes: list[str] = list(rs.notes)

    @property
    def runs(self) -> list[Run]:
        return sort_runs(self.rs.runs)

    @property
    def ok_runs(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def any_shape(self) -> bool:
        return any(r.shape for r in self.rs.runs)

    @property
    def all_cpu(self) -> bool:
        devs = {r.device for r in self.rs.runs if r.device}
        return devs == {"cpu"}

    # ------------------------------------------------ overview and environment

    def overview(self) -> Section:
        s = Section("overview", "What was run")
        rs = self.rs
        s.add(Code(rs.command or "(the manifest records no command)", "Command"))
        counts = Counter(r.status for r in rs.runs)
        found = ", ".join(f"{n} {st}" for st, n in sorted(counts.items())) or "none"
        s.p(f"{len(rs.runs)} result files read ({found}); {len(rs.corrupt)} corrupt file(s) skipped.")
        planned = rs.planned_keys
        if planned:
            have = {r.key for r in rs.runs}
            missing = [k for k in planned if k not in have]
            if missing:
                labels = {
                    r.get("key"): r.get("label")
                    for r in rs.manifest.get("runs") or []
                    if isinstance(r, dict) and isinstance(r.get("label"), str)
                }
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
        s.add(self.environment_table())
        return s

    def environment_table(self) -> Table:
        envs = [(r, r.result.environment) for r in sorted(self.rs.runs, key=lambda r: not r.ok) if r.result.environment]
        if not envs:
            return Table(["item", "value"], [], title="Environment", empty="No run recorded its environment.")
        fields: list[tuple[str, Any]] = [
            ("GPU", lambda e: None if e.device == "cpu" else e.gpu_name),
            ("GPU memory", lambda e: gib(e.gpu_total_mib) if e.gpu_total_mib else None),
            ("compute capability", lambda e: e.compute_capability),
            ("driver", lambda e: e.driver),
            ("CUDA", lambda e: e.cuda),
            ("device", lambda e: e.device),
            ("host", lambda e: e.host),
            ("CPU count", lambda e: e.cpu_count),
            ("platform", lambda e: e.platform),
            ("python", lambda e: e.python),
        ]
        fields += [(name, lambda e, n=name: e.packages.get(n)) for name in PACKAGES_SHOWN]
        fields.append(("git sha", lambda e: (e.git_sha or "") + (" (dirty)" if e.git_dirty else "") or None))
        rows = []
        for name, get in fields:
            vals = Counter(str(v) for _, e in envs if (v := get(e)) not in (None, ""))
            if not vals:
                text = "not recorded" if name != "GPU" else ("none (CPU-only run)" if self.all_cpu else None)
            elif len(vals) == 1:
                text = next(iter(vals))
            else:
                text = "; ".join(f"{v} ({n} runs)" for v, n in vals.most_common())
            if name in ("bitsandbytes", "unsloth", "unsloth_zoo") and text == "not recorded":
                continue
            rows.append([name, text])
        per = 3  # pairs per table row: a compact block
        grid = [[x for pair in rows[i : i + per] for x in pair] for i in range(0, len(rows), per)]
        grid = [r + [" "] * (2 * per - len(r)) for r in grid]  # blank, not "—" (nothing is missing)
        return Table(["item", "value"] * per, grid, title="Environment", html_id="environment")

    # ------------------------------------------------ ranking

    def ranking_section(self) -> Section:
        s = Section("ranking", "Ranking")
        rk = self.ranking
        if not rk.ranked:
            s.p("No ok runs: nothing to rank.", "warn")
        else:
            s.p(choice_sentence("First choice", rk.ranked[0], rk, self.prices), "choice")
            if len(rk.ranked) > 1:
                s.p(choice_sentence("Second choice", rk.ranked[1], rk, self.prices), "choice")
        if "quality" in rk.left_out and rk.weights["quality"] > 0:
            s.p(
                f"The quality term is left out of the score ({rk.left_out['quality']}); the other weights are renormalised to sum to 1.",
                "warn",
            )
        s.add(self.ranking_table())
        rows = []
        for t in TERMS:
            direction = "higher is better" if t in ("leaderboard", "quality") else "lower is better"
            what = {
                "leaderboard": "Open Ko-LLM leaderboard average (published, from candidates.yaml)",
                "quality": "tuned composite quality",
                "time": "fine-tune wall time",
                "memory": "peak memory while fine-tuning",
            }[t]
            used = rk.used.get(t)
            rows.append(
                [
                    t,
                    what,
                    direction,
                    f"{rk.weights[t]:.2f}",
                    f"{used:.2f}" if used is not None else f"left out: {rk.left_out.get(t, '')}",
                ]
            )
        s.add(
            Table(
                ["term", "what", "direction", "weight (spec)", "weight used"],
                rows,
                title="Score weights (from the sweep spec's ranking)",
            )
        )
        s.p(
            "Each term is normalised to 0..1 across the ranked rows (best = 1, worst = 0), and the score is the weighted"
            " sum divided by the sum of the weights used."
            + (
                f" Time, memory, quality, generation and cost are taken at rank {rk.ref_rank}, the largest rank at which every ranked row has an ok run."
                if rk.common_rank
                else f" Time, memory, quality, generation and cost are taken at rank {rk.ref_rank}, the rank most rows have an ok run at (see the note below)."
                if rk.ref_rank is not None
                else ""
            )
        )
        for n in rk.notes:
            s.p(n, "note")
        return s

    def ranking_table(self) -> Table:
        rk = self.ranking
        ranks = sorted({r.rank for r in self.rs.runs if r.rank is not None})
        cols = ["#", "candidate", "score", "params (B)", "Ko-LLM avg"]
        cols += [f"r{r} fine-tune time / peak mem" for r in ranks]
        at = f" @r{rk.ref_rank}" if rk.ref_rank is not None else ""
        cols += [f"generation s/answer{at}", f"generation peak mem{at}", f"quality{at} [95% CI]", f"cost{at}"]
        rows, classes = [], []
        for i, row in enumerate(rk.rows):
            oks, statuses = row.ok_by_rank(), row.status_by_rank()
            score = f"{row.score:.2f}" if row.score is not None else "unranked: no ok run"
            cells: list[Any] = [
                str(i + 1) if row.ranked else None,
                row.name,
                score,
                fnum(row.params_b, 2),
                fnum(row.ko_llm_avg),
            ]
            for r in ranks:
                run = oks.get(r)
                if run is not None:
                    m = run.train_mem
                    cells.append(f"{secs(run.train_s)} / {mem_cell(m.mib, m.measure) or '—'}")
                else:
                    cells.append(statuses.get(r))
            ref = row.ref_run
            g = ref.gen_tuned if ref else None
            other = f" (at r{row.ref_rank})" if ref is not None and row.ref_rank != rk.ref_rank else ""
            cells.append(f"{g.s_per_answer:.2f} (batch {g.batch_size}){other}" if g else None)
            if ref is not None:
                gm = ref.phase_mem(ref.gen_phases)
                cells.append(_suffix(mem_cell(gm.mib, gm.measure), other))
                cells.append(_suffix("not meaningful (shape)" if ref.shape else ci_text(ref.composite("tuned")), other))
                c = self.prices.cost(ref.billed_hours, ref.device, ref.gpu_name)
                hrs = f"{c.hours:.3f} {c.kind}-h" if c.hours is not None else None
                cells.append(
                    _suffix(
                        " ".join(x for x in (money(c.money, self.prices.currency), f"({hrs})" if hrs else None) if x)
                        or None,
                        other,
                    )
                )
            else:
                cells += [None, None, None]
            rows.append(cells)
            classes.append(
                "first"
                if row.ranked and i == 0
                else "second"
                if row.ranked and i == 1
                else "ranked"
                if row.ranked
                else "unranked"
            )
        shape = any(r.shape for row in rk.rows for r in row.runs)
        if self.all_cpu:
            memnote = "CPU-only runs: memory is the host RSS peak (no GPU was used; GPU fields are not measured)."
        else:
            memnote = (
                "Memory: NVML per-process peak of the phase (includes the CUDA context); * = torch max reserved"
                " where NVML had no per-process figure; RSS = host RSS of a CPU-only run."
            )
        cap = f"{memnote} A status instead of figures: that rank did not give an ok run (see Failed runs). — = not measured."
        return Table(
            cols,
            rows,
            title="Candidates ranked by weighted score",
            caption=cap,
            shape=shape,
            html_id="ranking",
            row_classes=classes,
        )

    # ------------------------------------------------ runs, cost, fits

    def runs_section(self) -> Section:
        s = Section("runs", "All runs")
        rows = []
        for r in self.runs:
            st = r.result.steps
            tm = r.train_mem
            train = r.phase("train")
            g = r.gen_tuned
            rows.append(
                [
                    run_label(r),
                    r.status,
                    secs(r.phase_s("load")),
                    secs(r.train_s),
                    fnum(st.steady_mean_s, 3) if st else None,
                    fnum(st.steady_p50_s, 3) if st else None,
                    fnum(st.steady_p90_s, 3) if st else None,
                    secs(st.burn_in_s) if st and st.burn_in_s is not None else None,
                    mem_cell(tm.mib, tm.measure),
                    gib(train.torch_max_reserved_mib) if train and train.torch_max_reserved_mib is not None else None,
                    gib(train.torch_max_allocated_mib) if train and train.torch_max_allocated_mib is not None else None,
                    gib(train.host_rss_peak_mib) if train and train.host_rss_peak_mib is not None else None,
                    f"{g.s_per_answer:.2f}" if g else None,
                    f"{g.tokens_per_s:.1f}" if g else None,
                    fnum(g.latency_s_per_answer, 2) if g else None,
                ]
            )
        cols = [
            "run", "status", "load", "fine-tune", "step mean s", "step p50 s", "step p90 s", "burn-in",
            "train peak", "torch reserved", "torch allocated", "host RSS", "gen s/answer", "tokens/s", "latency s (one at a time)",
        ]  # fmt: skip
        s.add(
            Table(
                cols, rows, title="Every run (details in results.csv)", shape=self.any_shape, empty="No result files."
            )
        )
        mism = [r for r in self.runs if r.status == "mismatch"]
        if mism:
            s.p(
                "Runs with status mismatch ran with effective settings that differ from the request: they are listed here"
                " and in results.csv but left out of the ranking, the plots and every comparison.",
                "warn",
            )
            s.add(
                Table(
                    ["run", "differences (request vs effective)"],
                    [
                        [
                            run_label(r),
                            "; ".join(r.result.effective.mismatches) if r.result.effective else r.result.reason,
                        ]
                        for r in mism
                    ],
                    title="Mismatched runs (shown, not compared)",
                )
            )
        return s

    def cost_section(self) -> Section:
        s = Section("cost", "Cost and energy")
        s.p(self.prices.describe())
        s.p(
            "Hours = train + generation wall time of the run (load and scoring left out); GPU-hours on GPU runs,"
            " CPU-hours (machine hours, priced by the cpu entry) on CPU-only runs. Energy is the integral of NVML power"
            " over the phases where it was sampled; it covers the whole GPU, not just this process."
        )
        rows = []
        for r in self.runs:
            if r.billed_hours is None:
                continue
            c = self.prices.cost(r.billed_hours, r.device, r.gpu_name)
            e = r.energy_j
            rows.append(
                [
                    run_label(r),
                    r.status,
                    "CPU" if r.device == "cpu" else r.gpu_name,
                    f"{c.hours:.4f} {c.kind}-h" if c.hours is not None else None,
                    c.price_name or ("no price entry matched" if r.device else None),
                    money(c.per_hour, self.prices.currency),
                    money(c.money, self.prices.currency),
                    f"{e / 3600:.2f} Wh ({e / 1000:.1f} kJ)" if e is not None else None,
                ]
            )
        s.add(
            Table(
                ["run", "status", "device", "hours", "price entry", "per hour", "cost", "energy"],
                rows,
                shape=self.any_shape,
                empty="No run has timed train or generation phases.",
            )
        )
        return s

    def fits_section(self) -> Section:
        s = Section("fits", "Fits on")
        p = self.prices
        gpus = p.budget_gpus
        s.p(
            f"A run fits a GPU when its measured peak over every phase (NVML per-process peak, else torch max reserved)"
            f" plus a margin of {p.margin:.0%} is at most the GPU's memory. Memory only: dtype and kernel support"
            " (bf16, bitsandbytes, Triton) are not checked, and a run measured on a larger GPU may have cached more than"
            " it needs."
        )
        if not gpus:
            s.p("The price file lists no budget GPUs (fits.gpus).", "note")
            return s
        if self.all_cpu:
            s.p("Not applicable: these are CPU-only runs (no GPU memory was measured).", "note")
            return s
        rows = []
        for r in self.runs:
            if not (r.ok or r.status == "mismatch"):
                continue
            m = r.peak_mem
            fit = p.fit(m.mib, m.measure, r.device)
            if not fit.applicable:
                rows.append([run_label(r), None, None, None, "n/a (CPU run)", None])
                continue
            no = [g.name for g in gpus if fit.needed_mib is not None and not fit.fits.get(g.name)]
            rows.append(
                [
                    run_label(r),
                    gib(m.mib),
                    m.measure,
                    gib(fit.needed_mib),
                    fit.fits_on or None,
                    ", ".join(no) or ("none" if fit.needed_mib is not None else None),
                ]
            )
        s.p(
            "Budget GPUs (from the price file, editable): "
            + ", ".join(f"{g.name} {g.memory_gib:g} GiB" for g in gpus)
            + ". results.csv has a yes/no column per GPU."
        )
        cols = ["run", "peak", "measure", f"peak + {p.margin:.0%}", "fits on", "does not fit"]
        s.add(
            Table(
                cols, rows, shape=any(r.shape for r in self.runs if r.ok or r.status == "mismatch"), empty="No ok runs."
            )
        )
        return s

    # ------------------------------------------------ published figures

    def published_section(self) -> Section:
        s = Section("published", "Ours vs the team's published figures")
        s.p(
            "The team's own figures (marked 'theirs') were measured by hand on a Colab Tesla T4. Their memory figure is"
            " torch.cuda.memory_allocated() after training, not a peak: it leaves out activations, the caching"
            " allocator's reserve and the CUDA context, so it is lower than any peak of ours. The closest figure of"
            " ours is torch max allocated; ratios are ours / theirs. Our GPU may not be a T4."
        )
        rows, shown = [], []
        for r in self.ok_runs:
            pub = self.rs.candidate_info(r).get("published")
            if not isinstance(pub, dict):
                continue
            shown.append(r)
            fs = {int(k): v for k, v in (pub.get("finetune_s") or {}).items()}
            fm = {int(k): v for k, v in (pub.get("finetune_mb") or {}).items()}
            train, gen = r.phase("train"), r.phase("generate_tuned")
            g = r.gen("tuned")
            t_alloc = train.torch_max_allocated_mib if train else None
            g_alloc = gen.torch_max_allocated_mib if gen else None
            rows.append(
                [
                    run_label(r),
                    r.gpu_name or ("CPU" if r.device == "cpu" else None),
                    secs(r.train_s) if r.train_s is not None else None,
                    secs(fs.get(r.rank)) if fs.get(r.rank) is not None else None,
                    ratio(r.train_s, fs.get(r.rank)),
                    fnum(train.nvml_process_peak_mib, 0) if train else None,
                    fnum(t_alloc, 0),
                    fnum(fm.get(r.rank), 0),
                    ratio(t_alloc, fm.get(r.rank)),
                    fnum(g.latency_s_per_answer, 2) if g else None,
                    f"{g.s_per_answer:.2f} (batch {g.batch_size})" if g else None,
                    fnum(pub.get("inference_s"), 2),
                    ratio(g.latency_s_per_answer if g else None, pub.get("inference_s")),
                    fnum(g_alloc, 0),
                    fnum(pub.get("inference_mb"), 0),
                    ratio(g_alloc, pub.get("inference_mb")),
                ]
            )
        cols = [
            "run (ours)", "our GPU", "fine-tune ours", "fine-tune theirs (T4)", "ratio",
            "train NVML peak MiB ours", "train torch alloc peak MiB ours", "MB theirs (allocated after training)", "ratio (alloc)",
            "s/answer ours, one at a time", "s/answer ours, batched", "s/answer theirs (one at a time)", "ratio (one at a time)",
            "gen torch alloc peak MiB ours", "inference MB theirs", "ratio (alloc)",
        ]  # fmt: skip
        s.add(
            Table(
                cols, rows, shape=any(r.shape for r in shown), empty="No ok run of a candidate with published figures."
            )
        )
        return s

    # ------------------------------------------------ unsloth vs plain

    def unsloth_pairs(self) -> list[tuple[Run, Run]]:
        by: dict[tuple[Any, ...], dict[str, Run]] = {}
        for r in self.ok_runs:
            by.setdefault((r.candidate, r.rank, r.quant, r.weights_mode), {})[r.backend] = r
        return [
            (d["hf"], d["unsloth"])
            for _, d in sorted(by.items(), key=lambda kv: str(kv[0]))
            if "hf" in d and "unsloth" in d
        ]

    def unsloth_section(self) -> Section | None:
        pairs = self.unsloth_pairs()
        if not pairs:
            return None
        s = Section("unsloth", "Unsloth vs plain")
        rows = []
        speedups, mem_cuts = [], []
        settings = set()
        for plain, uns in pairs:
            sp, su = plain.result.steps, uns.result.steps
            tp, tu = plain.phase("train"), uns.phase("train")
            step_p = sp.steady_mean_s if sp else None
            step_u = su.steady_mean_s if su else None
            if step_p and step_u:
                speedups.append(step_p / step_u)
            nv_p = tp.nvml_process_peak_mib if tp else None
            nv_u = tu.nvml_process_peak_mib if tu else None
            rv_p = tp.torch_max_reserved_mib if tp else None
            rv_u = tu.torch_max_reserved_mib if tu else None
            if nv_p and nv_u:
                mem_cuts.append(1 - nv_u / nv_p)
            elif rv_p and rv_u:
                mem_cuts.append(1 - rv_u / rv_p)
            e = uns.result.effective
            settings.add(
                (
                    uns.quant,
                    e.per_device_batch if e else None,
                    e.grad_accum if e else None,
                    uns.rank,
                    e.gradient_checkpointing if e else None,
                )
            )
            rows.append(
                [
                    f"{plain.candidate} r{plain.rank} {plain.quant}"
                    + (" shape" if plain.weights_mode == "shape" else ""),
                    fnum(step_p, 3),
                    fnum(step_u, 3),
                    f"{step_p / step_u:.2f}x" if step_p and step_u else None,
                    gib(nv_p) if nv_p else None,
                    gib(nv_u) if nv_u else None,
                    ratio(nv_u, nv_p),
                    gib(rv_p) if rv_p else None,
                    gib(rv_u) if rv_u else None,
                    ratio(rv_u, rv_p),
                    secs(sp.burn_in_s) if sp and sp.burn_in_s is not None else None,
                    secs(su.burn_in_s) if su and su.burn_in_s is not None else None,
                    (e.unsloth_path if e else None),
                ]
            )
        cols = [
            "candidate / rank / quant", "step s plain", "step s Unsloth", "speedup (plain/Unsloth)",
            "NVML peak plain", "NVML peak Unsloth", "ratio U/p", "torch reserved plain", "torch reserved Unsloth", "ratio U/p",
            "burn-in plain", "burn-in Unsloth", "Unsloth path",
        ]  # fmt: skip
        shape = any(p.shape or u.shape for p, u in pairs)
        s.add(
            Table(
                cols,
                rows,
                shape=shape,
                caption="Steady step time is the mean after the burn-in steps; burn-in (compilation, kernel autotuning, first allocations) is a one-time cost shown beside it, not in the ratio.",
            )
        )
        s.p(UNSLOTH_CLAIM)
        ours = "; ".join(
            f"quant {q}, batch {b if b is not None else '?'}, accumulation {a if a is not None else '?'}, rank {r}, gradient checkpointing {gc}"
            for q, b, a, r, gc in sorted(settings, key=str)
        )
        s.p(f"Ours ran on: {ours}.")
        if speedups:
            med_sp = statistics.median(speedups)
            txt = f"Median steady-step speedup here: {med_sp:.2f}x (claim: about 2x)"
            if mem_cuts:
                txt += f"; median peak-memory reduction: {statistics.median(mem_cuts):.0%} (claim: about 70%)"
            diffs = sorted(
                {
                    f"{name} (ours {ours_v}, claim {claim_v})"
                    for st in settings
                    for (name, claim_v), ours_v in zip(CLAIM_SETTINGS.items(), st[:4], strict=True)
                    if str(ours_v) != str(claim_v)
                }
            )
            txt += (
                "."
                if not diffs
                else f". Our settings differ from the claim's in {'; '.join(diffs)}: not like for like."
            )
            s.p(txt)
        s.add(self.figure_unsloth(pairs))
        return s

    # ------------------------------------------------ quality

    def quality_section(self) -> Section:
        s = Section("quality", "Quality")
        runs = [r for r in self.runs if r.result.quality and (r.ok or r.status == "mismatch")]
        if not runs:
            s.p("No run has quality scores.", "note")
        formula = next(
            (
                r.result.quality["composite"].get("formula")
                for r in runs
                if isinstance(r.result.quality.get("composite"), dict)
            ),
            None,
        )
        if formula:
            s.add(Code(str(formula), "Composite formula (0..100)"))
        rows = []
        for r in runs:
            comp = r.result.quality.get("composite")
            tvb = comp.get("tuned_vs_base") if isinstance(comp, dict) else None
            tvb = tvb if isinstance(tvb, dict) and tvb.get("diff_mean") is not None else None
            if tvb is None:
                a, b = _aligned(r, r, "tuned", "base")
                tvb = paired_diff(a, b) if len(a) >= 2 else None
            rows.append(
                [
                    run_label(r),
                    "no (shape)" if r.shape else "yes",
                    ci_text(r.composite("base")),
                    ci_text(r.composite("tuned")),
                    _diff_text(tvb),
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
            metrics = ["composite", *dict.fromkeys(r.metrics("base") + r.metrics("tuned"))]
            mrows = [
                [
                    m,
                    ci_text(r.metric("base", m), 3),
                    ci_text(r.metric("tuned", m), 3),
                    (r.metric("tuned", m) or r.metric("base", m) or {}).get("n"),
                ]
                for m in metrics
            ]
            per_run.append(
                Table(["metric", "base [95% CI]", "tuned [95% CI]", "n"], mrows, title=run_label(r), shape=r.shape)
            )
        if per_run:
            s.add(Details(f"Every metric, base vs tuned, per run ({len(per_run)} runs)", per_run))
        s.add(self.paired_table(runs))
        s.add(*self.grades_blocks())
        samples = self.sample_blocks(runs)
        if samples:
            s.add(Details(f"Sample answers ({len(samples)} runs, up to {SAMPLE_ANSWERS} prompts each)", samples))
        return s

    def paired_table(self, runs: list[Run]) -> Table:
        scored = [r for r in runs if r.ok and r.composite("tuned")]
        meaningful = [r for r in scored if r.quality_meaningful]
        pool = meaningful or scored
        top = sorted(pool, key=lambda r: -r.composite("tuned")["mean"])[:TOP_RUNS_COMPARED]  # type: ignore[index]
        rows = []
        for a, b in itertools.combinations(top, 2):
            xa, xb = _aligned(a, b, "tuned", "tuned")
            if len(xa) < 2:
                continue
            d = paired_diff(xa, xb)
            rows.append([run_label(a), run_label(b), d.get("n"), _diff_text(d), d.get("verdict")])
        how = (
            "harness.quality.bootstrap.paired_bootstrap"
            if not LOCAL_FALLBACK
            else "a local fallback (harness.quality missing)"
        )
        return Table(
            ["A", "B", "shared prompts", "A − B tuned composite [95% CI]", "verdict"],
            rows,
            title=f"Paired bootstrap between the top {len(top)} runs by tuned composite",
            caption=f"Prompts resampled as pairs ({how}); a winner is named only when the interval excludes 0.",
            shape=any(r.shape for r in top),
            empty="Fewer than two top runs share prompts with per-answer scores.",
        )

    def grades_blocks(self) -> list[Any]:
        if self.rs.grades is None:
            return [Paragraph("No human grades (grades.json) in this folder.", "note")]
        by_key = {r.key: r for r in self.rs.runs}
        rows = []
        for g in grade_summary(self.rs.grades):
            ci = mean_ci(g["values"])
            run = by_key.get(g["key"])
            rows.append(
                [
                    run_label(run) if run else f"{g['key'][:12]} (no result file)",
                    g["stage"],
                    ci_text(ci, 2),
                    ci.get("n"),
                ]
            )
        return [
            Table(
                ["run", "stage", "mean grade 1..5 [95% CI]", "answers graded"],
                rows,
                title="Human grades (최상 5 … 최하 1)",
                empty="grades.json has no grades in the expected layout.",
            )
        ]

    def sample_blocks(self, runs: list[Run]) -> list[Any]:
        out: list[Any] = []
        for r in runs:
            answers = r.result.answers
            if not answers:
                continue
            ids = (
                list(dict.fromkeys(a.id for a in answers if a.stage == "tuned"))[:SAMPLE_ANSWERS]
                or list(dict.fromkeys(a.id for a in answers))[:SAMPLE_ANSWERS]
            )
            blocks: list[Any] = []
            if r.shape:
                blocks.append(Banner(SHAPE_BANNER))
            for aid in ids:
                first = next(a for a in answers if a.id == aid)
                text = [
                    f"prompt: {first.prompt}",
                    f"reference: {first.reference if first.reference is not None else '(none: graded by hand)'}",
                ]
                for a in answers:
                    if a.id == aid:
                        comp = a.scores.get("composite")
                        sc = f" (composite {comp:.1f})" if isinstance(comp, (int, float)) else ""
                        text.append(f"{a.stage}{sc}: {a.answer}")
                blocks.append(Code("\n".join(text), f"id {aid}"))
            out.append(Details(f"Sample answers: {run_label(r)}", blocks))
        return out

    # ------------------------------------------------ failures

    def failures_section(self) -> Section:
        s = Section("failures", "Failed and unsupported runs")
        bad = [r for r in self.runs if not r.ok and r.status != "mismatch"]
        if not bad:
            s.p("None: every run finished ok.")
            return s
        rows = []
        for r in bad:
            reached = list(r.result.phases)[-1] if r.result.phases else None
            stem = r.file.removesuffix(".json")
            rows.append([run_label(r), r.status, r.result.reason, reached, f"logs/{stem}.log"])
        s.add(Table(["run", "status", "reason", "last phase measured", "log"], rows))
        for r in bad:
            if r.result.stderr_tail:
                s.add(Details(f"stderr tail: {run_label(r)} ({r.status})", [Code(r.result.stderr_tail)]))
        return s

    def selfbench_section(self) -> Section | None:
        """Can the harness's figures be trusted? selfbench.json (if the sweep folder has one) and the manifest."""
        sb = selfbench_data(self.rs.folder)
        invocations = [i for i in self.rs.manifest.get("invocations") or [] if isinstance(i, dict)]
        if sb is None and not invocations:
            return None
        s = Section("selfbench", "The harness measuring itself")
        if sb is not None:
            s.add(Table(["check", "figure", "goal", "met"], selfbench_rows(sb), shape=False))
        rows = []
        {r.result.key: r for r in self.rs.runs}
        for inv in invocations:
            wall = inv.get("wall_s")
            ran = [r for r in self.rs.runs if r.result.started_at and inv.get("started_at") and
                   inv["started_at"] <= r.result.started_at <= (inv.get("finished_at") or "~")]  # fmt: skip
            child = sum(r.result.wall_s or 0 for r in ran)
            phases = sum(sum(p.wall_s for p in r.result.phases.values()) for r in ran)
            rows.append([
                inv.get("started_at"), f"{len(ran)}", fnum(wall, 1), fnum(inv.get("overhead_s"), 1),
                ratio(wall, child) if ran else None, ratio(wall, phases) if ran else None,
            ])  # fmt: skip
        if rows:
            s.p("Sweep overhead: the sweep's wall time over the sum of its runs' own times (goal at most 1.2), and over "
                "the sum of their measured phases (the difference is each child's start-up: interpreter, imports, "
                "one-time weight builds).")  # fmt: skip
            s.add(Table(["invocation started", "runs", "sweep wall s", "parent overhead s", "wall / runs' wall",
                         "wall / runs' phases"], rows, shape=False))  # fmt: skip
        bw = (sb or {}).get("bandwidth", {}).get("gb_per_s_read_plus_write")
        if bw:
            floor_rows = []
            for r in self.ok_runs:
                g = r.gen("tuned")
                eff = r.result.effective
                if g is None or not g.latency_s_per_answer or eff is None or not eff.total_params or not g.new_tokens:
                    continue
                bytes_per = 2 if (eff.dtype in ("bf16", "fp16")) else 4
                floor_s = eff.total_params * bytes_per / (bw * 1e9)
                per_token = g.latency_s_per_answer / (g.new_tokens / max(1, g.prompts))
                floor_rows.append([run_label(r), fnum(eff.total_params / 1e9, 2), fnum(floor_s * 1e3, 2),
                                   fnum(per_token * 1e3, 1), fnum(per_token / floor_s, 1)])  # fmt: skip
            if floor_rows:
                s.p(f"Generation against the memory-bandwidth floor: one token needs every weight read once, "
                    f"weights bytes / {bw:,.0f} GB/s (the measured device copy, read + write). Ratio = measured "
                    f"one-at-a-time ms per token / floor; far above 1 means launch-bound, not bandwidth-bound.")  # fmt: skip
                s.add(Table(["run", "params B", "floor ms/token", "measured ms/token", "ratio"], floor_rows,
                            shape=self.any_shape))  # fmt: skip
        return s

    def notes_section(self) -> Section | None:
        if not self.notes:
            return None
        s = Section("notes", "Notes on this report")
        for n in self.notes:
            s.p(n, "note")
        return s

    # ------------------------------------------------ figures

    def _fig(self, name: str, title: str, fig: Any, shape: bool, caption: str | None = None) -> Figure:
        f = Figure(name, title, plots.png_bytes(fig), shape, caption)
        self.figures.append(f)
        return f

    def plots_section(self) -> Section:
        s = Section("plots", "Plots")
        ok = [r for r in self.ok_runs if r.rank is not None]
        if not ok:
            s.p("No ok runs: nothing to plot.", "note")
            return s
        rows = {row.variant: row.name for row in self.ranking.rows}
        mem_series: dict[str, list[tuple[int, float]]] = {}
        time_series: dict[str, list[tuple[int, float]]] = {}
        measures = set()
        for r in ok:
            m = r.train_mem
            if m.mib is not None:
                mem_series.setdefault(rows[r.variant], []).append((r.rank, m.mib / 1024))  # type: ignore[arg-type]
                measures.add(m.measure)
            if r.train_s is not None:
                time_series.setdefault(rows[r.variant], []).append((r.rank, r.train_s))  # type: ignore[arg-type]
        shape = any(r.shape for r in ok)
        banner = SHAPE_BANNER if shape else None
        if mem_series:
            measure = " / ".join(sorted(x for x in measures if x))
            s.add(
                self._fig(
                    "memory_vs_rank", "Peak memory vs rank", plots.memory_vs_rank(mem_series, measure, banner), shape
                )
            )
        if time_series:
            s.add(self._fig("time_vs_rank", "Fine-tune time vs rank", plots.time_vs_rank(time_series, banner), shape))
        pts = []
        scored = [r for r in ok if r.composite("tuned")]
        scored = [r for r in scored if not r.shape] or scored  # shape-mode quality only when nothing else
        costs = [(r, self.prices.cost(r.billed_hours, r.device, r.gpu_name)) for r in scored]
        use_money = bool(costs) and all(c.money is not None for _, c in costs)
        for r, c in costs:
            x = c.money if use_money else c.hours
            if x is not None:
                pts.append((run_label(r), x, r.composite("tuned")["mean"]))  # type: ignore[index]
        if pts:
            xlabel = (
                f"cost, {self.prices.currency} (train + generation)"
                if use_money
                else "GPU- or CPU-hours (train + generation; no price for every run)"
            )
            qshape = any(r.shape for r, _ in costs)
            s.add(
                self._fig(
                    "quality_vs_cost",
                    "Quality vs cost",
                    plots.quality_vs_cost(pts, xlabel, SHAPE_BANNER if qshape else None),
                    qshape,
                    "Circled and joined: the Pareto front (no other run is both cheaper and better).",
                )
            )
        steps = {
            run_label(r): (
                r.result.steps.times_s[r.result.steps.burn_in_steps :],
                r.result.steps.times_s[: r.result.steps.burn_in_steps],
            )
            for r in ok
            if r.result.steps and r.result.steps.times_s
        }
        if steps:
            s.add(self._fig("step_times", "Step-time distribution per run", plots.step_times(steps, banner), shape))
        return s

    def figure_unsloth(self, pairs: list[tuple[Run, Run]]) -> Figure:
        data = []
        for p, u in pairs:
            sp, su = p.result.steps, u.result.steps
            tp, tu = p.phase("train"), u.phase("train")

            def rat(a: float | None, b: float | None) -> float | None:
                return a / b if a and b else None

            data.append(
                (
                    f"{p.candidate} r{p.rank} {p.quant}",
                    rat(su.steady_mean_s if su else None, sp.steady_mean_s if sp else None),
                    rat(tu.nvml_process_peak_mib if tu else None, tp.nvml_process_peak_mib if tp else None),
                    rat(tu.torch_max_reserved_mib if tu else None, tp.torch_max_reserved_mib if tp else None),
                )
            )
        shape = any(p.shape or u.shape for p, u in pairs)
        return self._fig(
            "unsloth_vs_plain", "Unsloth vs plain", plots.unsloth_vs_plain(data, SHAPE_BANNER if shape else None), shape
        )


def _suffix(text: str | None, suffix: str) -> str | None:
    return None if text is None else text + suffix


def _aligned(a: Run, b: Run, stage_a: str, stage_b: str) -> tuple[list[float], list[float]]:
    metric = "composite"
    sa, sb = a.answer_scores(stage_a, metric), b.answer_scores(stage_b, metric)
    ids = [i for i in sa if i in sb]
    return [sa[i] for i in ids], [sb[i] for i in ids]


def _diff_text(d: dict[str, Any] | None) -> str | None:
    if not d or d.get("diff_mean") is None:
        return None
    s = f"{d['diff_mean']:+.1f}"
    if d.get("lo") is not None and d.get("hi") is not None:
        s += f" [{d['lo']:+.1f}, {d['hi']:+.1f}]"
    return s + (f" (n={d['n']})" if d.get("n") is not None else "")


# ---------------------------------------------------------------- entry points


def _prices_path(rs: ResultSet, prices_file: Path | None) -> tuple[Path | None, bool]:
    if prices_file is not None:
        return Path(prices_file), True
    spec_prices = rs.spec.get("prices")
    if isinstance(spec_prices, str) and spec_prices:
        p = Path(spec_prices)
        p = p if p.is_absolute() else REPO_ROOT / p
        if p.exists():
            return p, False
        rs.notes.append(
            f"The spec's price file {spec_prices} was not found; {DEFAULT_PRICES_FILE.name} is used if present"
        )
    return DEFAULT_PRICES_FILE, False


def _clean_stale(folder: Path, pattern: str, keep: set[Path]) -> None:
    for p in folder.glob(pattern):
        if p not in keep and p.is_file():
            p.unlink()


def build_report(
    results_dir: Path, *, candidates_file: Path | None = None, prices_file: Path | None = None
) -> ReportFiles:
    """Read the results folder (result files only) and write the report files into it."""
    folder = Path(results_dir)
    rs = load_results(folder, candidates_file)
    path, required = _prices_path(rs, prices_file)
    prices = PriceTable.load(path, required=required)
    if prices.source is None:
        rs.notes.append("No price file: cost is left empty; the fits-on check has no GPU list.")
    ranking = rank(rs)
    b = Builder(rs, prices, ranking)

    # CSVs
    results_csv = folder / "results.csv"
    write_csv(results_frame(rs, prices), results_csv)
    cand_dir = folder / "candidates"
    cand_csvs: list[Path] = []
    taken: set[str] = set()
    by_cand: dict[str, list[Run]] = {}
    for r in rs.runs:
        by_cand.setdefault(r.candidate, []).append(r)
    for name in sorted(by_cand):
        p = cand_dir / f"{safe_file_name(name, taken)}.csv"
        write_csv(candidate_frame(by_cand[name]), p)
        cand_csvs.append(p)
    if cand_dir.is_dir():
        _clean_stale(cand_dir, "*.csv", set(cand_csvs))

    # sections (plots are made as the sections are built)
    sections = [
        b.overview(),
        b.ranking_section(),
        b.plots_section(),
        b.runs_section(),
        b.cost_section(),
        b.fits_section(),
        b.published_section(),
        b.unsloth_section(),
        b.quality_section(),
        b.failures_section(),
        b.selfbench_section(),
        b.notes_section(),
    ]
    sections = [s for s in sections if s is not None]

    plot_dir = folder / "plots"
    plot_paths = []
    for f in b.figures:
        p = folder / f.rel_path
        atomic_write_bytes(p, f.png)
        plot_paths.append(p)
    if plot_dir.is_dir():
        _clean_stale(plot_dir, "*.png", set(plot_paths))

    files = [str(p.relative_to(folder)) for p in [results_csv, *cand_csvs]] + ["report.md"]
    ctx = {
        "title": f"LoRA fine-tuning benchmark: {rs.sweep_name}",
        "sweep": rs.sweep_name,
        "description": rs.description,
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "folder": folder.name,
        "shape": b.any_shape,
        "banner": SHAPE_BANNER,
        "sections": sections,
        "files": files,
    }
    md_path, html_path = folder / "report.md", folder / "report.html"
    atomic_write_text(md_path, render_page("report.md.j2", **ctx))
    atomic_write_text(html_path, render_page("report.html.j2", **ctx))
    return ReportFiles(folder, results_csv, cand_csvs, md_path, html_path, plot_paths, b.notes)


def main_report(results_dir: Path) -> None:
    """`harness report RESULTS_DIR`: build the report and print the paths written."""
    files = build_report(Path(results_dir))
    for p in files.all:
        print(p)
    for n in files.notes:
        print(f"note: {n}")


def selfbench_data(folder: Path) -> dict[str, Any] | None:
    """selfbench.json in the results folder (or its selfbench/ subfolder), as `harness selfbench` writes it."""
    for p in (folder / "selfbench.json", folder / "selfbench" / "selfbench.json"):
        if p.is_file():
            try:
                raw = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return raw if isinstance(raw, dict) else None
    return None


def selfbench_rows(sb: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []

    def met(ok: bool | None) -> str:
        return "—" if ok is None else ("yes" if ok else "NO")

    gt = sb.get("gpu_tracker") or {}
    known = gt.get("known_mib") or (sb.get("host_tracker") or {}).get("known_mib")
    for k in ("torch_max_allocated", "torch_max_reserved", "nvml_process", "nvml_device"):
        err = gt.get(f"{k}_error_pct")
        if err is not None:
            rows.append([f"tracker: {k} recovers {known} MiB", f"{gt.get(k + '_mib'):,.1f} MiB ({err:+.2f}%)",
                         "within 1%", met(abs(err) <= 1)])  # fmt: skip
    ht = sb.get("host_tracker") or {}
    if ht.get("host_rss_error_pct") is not None:
        e = ht["host_rss_error_pct"]
        rows.append([f"tracker: host RSS recovers {ht.get('known_mib')} MiB", f"{ht['host_rss_mib']:,.1f} MiB ({e:+.2f}%)",
                     "within 1%", met(abs(e) <= 1)])  # fmt: skip
    if "spike_50ms_caught" in gt:
        rows.append([f"spike: a {gt.get('spike_50ms_mib', 512)} MiB allocation held 50 ms",
                     f"{gt.get('spike_50ms_seen_mib', 0):,.0f} MiB seen", "caught", met(gt["spike_50ms_caught"])])  # fmt: skip
    mo = sb.get("monitor_overhead") or {}
    for k, what in (("train_step_small", "a small training step"), ("train_step_large", "a LoRA-sized training step"),
                    ("python_loop", "a Python-heavy loop (like token-by-token generation)")):  # fmt: skip
        o = mo.get(k)
        if isinstance(o, dict) and o.get("overhead_pct") is not None:
            rows.append([f"monitoring overhead ({mo.get('device')}): {what}",
                         f"{o['overhead_pct']:+.2f}% of {o['step_median_off_s'] * 1e3:.2f} ms",
                         f"at most {mo.get('goal_pct', 1.0)}%", met(o["overhead_pct"] <= mo.get("goal_pct", 1.0))])  # fmt: skip
    bw = (sb.get("bandwidth") or {}).get("gb_per_s_read_plus_write")
    if bw:
        rows.append(["device copy bandwidth (read + write)", f"{bw:,.0f} GB/s", "—", "—"])
    return rows
