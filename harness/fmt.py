"""How figures look in text: the one set of formatters for the report, the end-of-sweep table and progress lines.

Pure functions of plain values (no pandas, no rich): a None figure prints as MISSING, never as 0.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MISSING = "—"  # a figure that was not measured


def fnum(v: float | None, digits: int = 1) -> str | None:
    """A number with fixed decimals; None stays None (the table prints MISSING)."""
    return None if v is None else f"{v:.{digits}f}"


def interval(mean: float | None, lo: float | None, hi: float | None, digits: int = 1, unit: str = "") -> str | None:
    """'12.3 [11.9, 12.8] s'; the bracket only when both ends are known."""
    if mean is None:
        return None
    s = f"{mean:.{digits}f}"
    if lo is not None and hi is not None:
        s += f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return s + (f" {unit}" if unit else "")


def ci_text(d: Mapping[str, Any] | None, digits: int = 1) -> str | None:
    """A {mean, lo, hi, n} interval as 'mean [lo, hi]'."""
    if not d or d.get("mean") is None:
        return None
    return interval(d["mean"], d.get("lo"), d.get("hi"), digits)


def diff_text(d: Mapping[str, Any] | None, digits: int = 1) -> str | None:
    """A paired difference {diff_mean, lo, hi, n} as '+1.2 [-0.3, +2.8] (n=25)'."""
    if not d or d.get("diff_mean") is None:
        return None
    s = f"{d['diff_mean']:+.{digits}f}"
    if d.get("lo") is not None and d.get("hi") is not None:
        s += f" [{d['lo']:+.{digits}f}, {d['hi']:+.{digits}f}]"
    return s + (f" (n={d['n']})" if d.get("n") is not None else "")


def ratio(a: float | None, b: float | None, digits: int = 2) -> str | None:
    return None if a is None or b is None or b == 0 else f"{a / b:.{digits}f}"


def money(v: float | None, currency: str = "USD") -> str | None:
    if v is None:
        return None
    amount = f"{v:.4f}" if v < 1 else f"{v:,.2f}"
    return f"${amount}" if currency == "USD" else f"{amount} {currency}"


def gib(mib: float | None, digits: int = 1) -> str:
    return MISSING if mib is None else f"{mib / 1024:.{digits}f} GiB"


def mib(v: float | None) -> str:
    return MISSING if v is None else f"{v:,.0f} MiB"


def mem_cell(mib_value: float | None, measure: str | None) -> str | None:
    """A peak in GiB, marked when it is not NVML's per-process figure (* torch reserved, RSS host)."""
    if mib_value is None:
        return None
    mark = {"host RSS": " RSS", "torch reserved": " *"}.get(measure or "", "")
    return gib(mib_value) + mark


def secs(s: float | None) -> str:
    """Seconds for tables: one decimal below 100 s."""
    if s is None:
        return MISSING
    return f"{s:.1f} s" if s < 100 else f"{s:,.0f} s"


def duration(s: float | None) -> str:
    """Compact wall time for progress lines: 4.2s, 37s, 3m05s, 1h02m."""
    if s is None:
        return "?"
    if s < 10:
        return f"{s:.1f}s"
    r = round(s)
    if r < 60:
        return f"{r}s"
    if r < 3600:
        return f"{r // 60}m{r % 60:02d}s"
    return f"{r // 3600}h{r % 3600 // 60:02d}m"


def human_time(s: float | None) -> str:
    """Seconds in words for sentences: 48 s, 12.5 min, 3.2 h."""
    if s is None:
        return MISSING
    if s < 120:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def human_span(mean: float | None, lo: float | None, hi: float | None) -> str:
    """'48 s [45, 51 s]', '12.5 min [12.1, 12.9 min]': the interval in the mean's unit."""
    if mean is None:
        return MISSING
    text = human_time(mean)
    if lo is None or hi is None:
        return text
    unit, div, digits = (
        ("h", 3600, 1) if mean >= 7200 else ("min", 60, 1) if mean >= 120 else ("s", 1, 0 if mean >= 10 else 1)
    )
    return f"{text} [{lo / div:.{digits}f}, {hi / div:.{digits}f} {unit}]"


def pct(x: float | None, digits: int = 0) -> str | None:
    return None if x is None else f"{100 * x:.{digits}f}%"


def ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"


def join_and(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    xs = [x for x in items if x]
    if len(xs) <= 1:
        return "".join(xs)
    return ", ".join(xs[:-1]) + " and " + xs[-1]


def finite(v: Any) -> float | None:
    """A finite float, else None (bools, strings, NaN and inf are not figures)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


# ---------------------------------------------------------------- paths and commands


def rel_path(path: str | Path | None, root: Path) -> str | None:
    """A path as the user would type it from the repo root: relative when it lies inside `root`."""
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return str(p)


def command_text(argv: Sequence[Any] | str | None, root: Path) -> str | None:
    """A recorded command as one shell line: `/.../harness/__main__.py` becomes `python -m harness`,
    paths inside the repo become relative (results recorded before the command was stored as typed)."""
    if argv is None or argv == "" or argv == []:
        return None
    if isinstance(argv, str):
        return argv
    parts = [str(x) for x in argv]
    head = parts[0].replace("\\", "/") if parts else ""
    if head.endswith("/harness/__main__.py") or head.endswith("/harness/cli.py"):
        parts = ["python", "-m", "harness", *parts[1:]]
    elif head.endswith("/harness/child/run.py"):
        parts = ["python", "-m", "harness.child.run", *parts[1:]]
    elif head.endswith("/harness/run.py"):  # the child's place before harness/child/ (older result files)
        parts = ["python", "-m", "harness.run", *parts[1:]]
    out = []
    for x in parts:
        out.append(rel_path(x, root) if x.startswith("/") else x)  # type: ignore[arg-type]
    return shlex.join(out)  # type: ignore[arg-type]


_MACHINE_PREFIX = re.compile(
    r"/(?:[^/\s:'\"]+/)*?(?=(?:\.site|site-packages|dist-packages|harness|benchmarks|results)/)"
)


def machine_paths_out(text: str) -> str:
    """A log excerpt without the machine's own folders: '/work/main/.site/torchao/x.py' -> '.site/torchao/x.py'."""
    return _MACHINE_PREFIX.sub("", text)
