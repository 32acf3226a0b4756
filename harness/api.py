"""The Python API: `harness.bench(...)` and `harness.report(folder)`, for notebooks (Jupyter, Colab).

    import harness
    results = harness.bench(model="Qwen/Qwen2.5-0.5B-Instruct", data="my.csv", ranks=[16, 32], max_steps=50)
    results.df          # one row per run (results.csv as a pandas DataFrame)
    results.answer      # the report's answer paragraph
    results             # in a notebook: the report, inline

`bench` is `lora-harness bench` itself: its keyword arguments become the command's options (max_steps=50 is
--max-steps 50, a true trust_remote_code is --trust-remote-code), parsed and checked by the same parser, then
run by the same function (harness.cli.cmd_bench): the same preflight, the same children, the same result
files. The manifest records the call (`harness.bench(model=..., ...)`), not the kernel's command line. Bad
input raises harness.errors.UserError with the command's one-line message. Like the command line, this
process never imports torch: each run is a child process.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from harness.report.build import ReportFiles
    from harness.sweep.outcome import SweepOutcome

_IFRAME_HEIGHT_PX = 900


@dataclass
class Results:
    """What a bench or report call made: the results folder, its report files, the exit code it would have."""

    folder: Path
    files: ReportFiles
    code: int = 0  # 0 every run ok; 1 a run ended otherwise (its result is still in the folder and the table)
    outcome: SweepOutcome | None = None  # the sweep's own account (runs kept, ran, wall time); None for report()

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def df(self) -> pd.DataFrame:
        """One row per run (warm-up runs left out): the report's results.csv, as a DataFrame."""
        return self.files.table

    @property
    def answer(self) -> str:
        """The answer paragraph at the top of the report."""
        return self.files.answer

    @property
    def html(self) -> str:
        """The self-contained report page (plots inline)."""
        return self.files.html.read_text(encoding="utf-8")

    def _repr_html_(self) -> str:
        # the whole page in an iframe: its own styles stay inside it, and Jupyter and Colab both render it
        page = html.escape(self.html, quote=True)
        return (
            f"<p><b>{html.escape(self.answer)}</b></p>"
            f'<iframe srcdoc="{page}" style="width:100%;height:{_IFRAME_HEIGHT_PX}px;border:1px solid #ccd"'
            f' sandbox="allow-scripts allow-popups" title="report: {html.escape(str(self.folder))}"></iframe>'
            f"<p><small>report: {html.escape(str(self.files.html))}</small></p>"
        )

    def __repr__(self) -> str:
        return f"Results({str(self.folder)!r}, runs={len(self.df)}, code={self.code})\n{self.answer}"


def _bench_parser() -> argparse.ArgumentParser:
    from harness import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["bench"]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Keyword name -> the option it stands for: max_steps -> --max-steps."""
    out = {}
    for action in parser._actions:
        longs = [s for s in action.option_strings if s.startswith("--")]
        if longs and action.dest != "help":
            out[longs[0][2:].replace("-", "_")] = action
    return out


def _argv_of(name: str, value: Any, action: argparse.Action) -> list[str]:
    """One keyword argument as the command's words; None means not given."""
    flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
    if value is None:
        return []
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise UserError(f"harness.bench: {name}={value!r}: give True or False")
        return [flag] if value else []
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(action, argparse._AppendAction):
        items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else value
        items = [items] if isinstance(items, str) or not isinstance(items, (list, tuple)) else items
        return [w for item in items for w in (flag, str(item))]
    if action.nargs in ("+", "*"):
        items = value if isinstance(value, (list, tuple)) else [value]
        return [flag, *(str(os.fspath(v) if isinstance(v, os.PathLike) else v) for v in items)]
    if isinstance(value, (list, tuple)):
        if name == "gpus":  # --gpus 0,1
            return [flag, ",".join(str(v) for v in value)]
        raise UserError(f"harness.bench: {name} takes one value, got {value!r}")
    return [flag, str(value)]


def _parse(parser: argparse.ArgumentParser, argv: list[str], call: str) -> argparse.Namespace:
    """The command's own parsing; its error (an invalid number, a choice not offered) as a UserError."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(argv)
    except SystemExit:
        lines = [ln for ln in err.getvalue().strip().splitlines() if ln.strip()]
        message = lines[-1].split("error: ", 1)[-1] if lines else "invalid arguments"
        # the option as the keyword it came from: argument --max-steps -> max_steps
        message = re.sub(r"--([a-z][a-z-]*)", lambda m: m.group(1).replace("-", "_"), message)
        raise UserError(f"{call}: {message}") from None


def _call_text(func: str, given: dict[str, Any]) -> str:
    """`harness.bench(model='x', ranks=[16])`: the call as typed (paths as text)."""
    parts = [f"{k}={(os.fspath(v) if isinstance(v, os.PathLike) else v)!r}" for k, v in given.items()]
    return f"harness.{func}({', '.join(parts)})"


def _run(args: argparse.Namespace, call: str) -> Results:
    from harness.sweep.outcome import SweepInterrupted

    args.made = []  # cli._made puts what the command made here
    try:
        args.func(args)
    except SweepInterrupted as e:  # a notebook's interrupt: the kernel's KeyboardInterrupt, not an exit
        raise KeyboardInterrupt(e.message) from None
    if not args.made:
        raise UserError(f"{call}: nothing was made")  # a bug: every command path reports what it wrote
    files, outcome, code = args.made[-1]
    return Results(Path(files.folder), files, code, outcome)


def bench(
    model: str | os.PathLike[str] | None = None,
    data: str | os.PathLike[str] | None = None,
    ranks: list[int] | int | None = None,
    **settings: Any,
) -> Results:
    """`lora-harness bench`, from Python; returns the results (a table, the answer, the report inline).

    model: a candidate name, hub id (org/name) or model folder; None: the embedded default (SmolLM2-135M).
    data: the data file (team CSV, alpaca JSON/JSONL, KorQuAD); None: the project's sample data.
    ranks: LoRA ranks, e.g. [16, 32, 64].
    settings: any other option of `lora-harness bench --help`, by its name: spec, candidates, weights, backends,
    quants, max_steps, train_rows, prompts, max_new_tokens, gen_batch, device, repeats, job, timeout,
    results_root, gpus, start, rerun, retry_failed, trust_remote_code, save_adapters, ...
    save_adapters: keep each ok run's LoRA adapter in results/<sweep>/adapters/<run>/; on by default with one
    model (model=..., or the embedded default), off for a spec's or a list's several models (as on the command line).
    """
    given = {k: v for k, v in {"model": model, "data": data, "ranks": ranks, **settings}.items() if v is not None}
    call = _call_text("bench", given)
    one_model = model is not None or not (settings.get("spec") or settings.get("candidates"))
    if one_model and "save_adapters" not in settings:  # one model: its winner is what you came for
        given["save_adapters"] = True
    parser = _bench_parser()
    options = _options(parser)
    argv: list[str] = []
    for name, value in given.items():
        action = options.get(name)
        if action is None:
            raise UserError(f"harness.bench: unknown setting '{name}'; the settings are {', '.join(sorted(options))}")
        argv += _argv_of(name, value, action)
    args = _parse(parser, argv, "harness.bench")
    args.command = call
    return _run(args, call)


def report(
    folder: str | os.PathLike[str],
    *,
    job: str | None = None,
    quality_weights: str | dict[str, float] | None = None,
    push_to_hub: str | None = None,
) -> Results:
    """`lora-harness report FOLDER`: rebuild the report from the result files; `job` ('200x3@4' or a step count)
    and `quality_weights` ('chrf=2,contains=1' or a dict) reproject and reweight without a rerun; `push_to_hub`
    ('org/name') uploads it with the result files as a hub data set repo."""
    from harness import cli

    argv = ["report", os.fspath(folder)]
    if job is not None:
        argv += ["--job", str(job)]
    if quality_weights is not None:
        text = quality_weights if isinstance(quality_weights, str) else ",".join(
            f"{k}={v}" for k, v in quality_weights.items()
        )  # fmt: skip
        argv += ["--quality-weights", text]
    if push_to_hub is not None:
        argv += ["--push-to-hub", push_to_hub]
    args = _parse(cli.build_parser(), argv, "harness.report")
    return _run(args, "harness.report")
