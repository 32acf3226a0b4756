"""Plots: each function takes plain data and returns a matplotlib Figure (Agg canvas, no pyplot state).

A figure with shape-mode data carries the shape banner as its subtitle.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from typing import Any

import matplotlib

if "matplotlib.pyplot" not in sys.modules:
    matplotlib.use("Agg")  # no display; the figures below draw on an Agg canvas either way

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from harness.backends import PLAIN as PLAIN_BACKEND

RC = {"text.parse_math": False, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3}
BANNER_COLOR = "#a05a00"
MARKERS = "osD^v<>pXh*"


PLAIN = FuncFormatter(lambda v, _pos: f"{v:g}")  # no mathtext: parse_math is off


def _legend_outside(ax: object) -> None:
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # type: ignore[attr-defined]


def _figure(title: str, banner: str | None, size: tuple[float, float] = (9.5, 4.6)) -> tuple[Figure, object]:
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot(1, 1, 1)
        fig.suptitle(title, fontsize=12, fontweight="bold")
        if banner:
            ax.set_title(banner, color=BANNER_COLOR, fontsize=9, fontweight="bold")
    return fig, ax


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def line_vs_rank(
    series: dict[str, list[tuple[int, float]]], title: str, ylabel: str, banner: str | None = None
) -> Figure:
    """One line per series (candidate): x = LoRA rank (log 2 axis), y = the figure."""
    fig, ax = _figure(title, banner)
    with matplotlib.rc_context(RC):
        ranks: set[int] = set()
        for i, (name, pts) in enumerate(sorted(series.items())):
            pts = sorted(pts)
            if not pts:
                continue
            ranks.update(p[0] for p in pts)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[i % len(MARKERS)], label=name)
        if ranks:
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(ranks))
            ax.set_xticklabels([str(r) for r in sorted(ranks)])
        ax.set_xlabel("LoRA rank")
        ax.set_ylabel(ylabel)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_minor_formatter(NullFormatter())
        if series:
            _legend_outside(ax)
    return fig


def memory_vs_rank(series: dict[str, list[tuple[int, float]]], measure: str, banner: str | None = None) -> Figure:
    return line_vs_rank(
        series,
        "Peak memory of the user's work (fine-tune, answers) vs LoRA rank",
        f"peak memory, GiB ({measure})",
        banner,
    )


def time_vs_rank(series: dict[str, list[tuple[int, float]]], banner: str | None = None) -> Figure:
    return line_vs_rank(series, "Projected fine-tune time of the job vs LoRA rank", "fine-tune time, s", banner)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: cost no higher and quality no lower, one strictly better."""
    front = []
    for i, (c, q) in enumerate(points):
        dominated = any((c2 <= c and q2 >= q) and (c2 < c or q2 > q) for j, (c2, q2) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def quality_vs_cost(points: list[tuple[str, float, float]], xlabel: str, banner: str | None = None) -> Figure:
    """Scatter of (label, cost, quality); the Pareto front (cheapest for its quality) is joined and marked."""
    fig, ax = _figure("Tuned quality vs cost (Pareto front marked)", banner)
    with matplotlib.rc_context(RC):
        xy = [(p[1], p[2]) for p in points]
        front = pareto_front(xy)
        ax.scatter([p[0] for p in xy], [p[1] for p in xy], color="#7d8ca3", s=28, label="run", zorder=2)
        if front:
            ax.plot(
                [xy[i][0] for i in front],
                [xy[i][1] for i in front],
                color="#c0392b",
                marker="o",
                markersize=8,
                markerfacecolor="none",
                linewidth=1.5,
                label="Pareto front",
                zorder=3,
            )
        for i, (label, c, q) in enumerate(points):
            ax.annotate(
                label,
                (c, q),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
                color="#1d2430" if i in front else "#7d8ca3",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("tuned composite quality (0..100)")
        if points:
            _legend_outside(ax)
    return fig


def backends_vs_plain(
    pairs: list[tuple[str, float | None, float | None]], banner: str | None = None, claims: Sequence[Any] = ()
) -> Figure:
    """Bars of backend / plain ratios per pair (label, steady step time, user-work peak); 1 = no change.

    A backend's published claim (`Backend.claim`: step time and memory ratios) is drawn as dashed lines."""
    title = f"Backend vs plain {PLAIN_BACKEND}: ratio backend / plain (below 1: the backend is better)"
    fig, ax = _figure(title, banner, (9.5, 4.8))
    with matplotlib.rc_context(RC):
        n = len(pairs)
        width = 0.36
        names = ("steady step time", "user-work peak memory")
        colors = ("#2e86de", "#e67e22")
        for k in range(2):
            xs = [i + (k - 0.5) * width for i in range(n)]
            ys = [p[k + 1] if p[k + 1] is not None else 0.0 for p in pairs]
            bars = ax.bar(xs, ys, width=width, label=names[k], color=colors[k])
            for b, p in zip(bars, pairs, strict=True):
                v = p[k + 1]
                if v is None:
                    b.set_hatch("//")
                    b.set_alpha(0.2)
                else:
                    ax.annotate(
                        f"{v:.2f}",
                        (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center",
                        va="bottom",
                        fontsize=7,
                    )
        ax.axhline(1.0, color="#333", linewidth=1)
        for claim in claims:
            ax.axhline(claim.step_ratio, color=colors[0], linestyle="--", linewidth=1, label=claim.step_label)
            ax.axhline(claim.memory_ratio, color=colors[1], linestyle="--", linewidth=1, label=claim.memory_label)
        ax.set_xticks(range(n))
        ax.set_xticklabels([p[0] for p in pairs], rotation=15, ha="right", fontsize=8)
        ax.set_ylabel("backend / plain")
        ax.set_ylim(bottom=0)
        _legend_outside(ax)
    return fig


def loss_curves(curves: dict[str, list[tuple[int, float]]], banner: str | None = None) -> Figure:
    """Training loss against step, one line per run (label -> [(step, loss)])."""
    fig, ax = _figure("Training loss by backend (same data, same seed)", banner)
    with matplotlib.rc_context(RC):
        for i, (label, pts) in enumerate(sorted(curves.items())):
            pts = sorted(pts)
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], marker=MARKERS[i % len(MARKERS)], markersize=3, label=label
            )
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        if curves:
            _legend_outside(ax)
    return fig


def step_times(data: dict[str, tuple[list[float], list[float]]], banner: str | None = None) -> Figure:
    """Box plot of steady step times per run (label -> (steady, burn-in)); burn-in steps drawn as crosses."""
    labels = list(data)
    height = max(3.0, 0.42 * len(labels) + 1.6)
    fig, ax = _figure("Training step times per run (box: steady steps; x: burn-in steps)", banner, size=(9.5, height))
    with matplotlib.rc_context(RC):
        steady = [data[k][0] or [float("nan")] for k in labels]
        if labels:
            try:  # matplotlib >= 3.10: orientation; older: vert
                ax.boxplot(steady, orientation="horizontal", showfliers=True, widths=0.55)
            except TypeError:  # pragma: no cover - older matplotlib
                ax.boxplot(steady, vert=False, showfliers=True, widths=0.55)
            ax.set_yticks(range(1, len(labels) + 1))
            ax.set_yticklabels(labels)
            for i, k in enumerate(labels):
                burn = data[k][1]
                if burn:
                    ax.scatter(burn, [i + 1] * len(burn), marker="x", color=BANNER_COLOR, s=22, zorder=3)
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(PLAIN)
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("step wall time, s (log scale)")
        ax.tick_params(axis="y", labelsize=7)
    return fig
