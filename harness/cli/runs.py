"""The commands that run: `bench` (what `make bench` runs), `sweep` (a spec) and `run` (one run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import flags
from harness.backends import PLAIN
from harness.cli.cells import CellFilter, read_cells, union_axes
from harness.cli.spec import DEFAULT_SPEC, STUDY_SPEC, _apply, _axes, _list_names, _short, _spec_path
from harness.cli.sweeping import _sweep
from harness.config import load_sweep_spec
from harness.errors import UserError
from harness.flags import setting_axes_given
from harness.labels import run_label


def cmd_sweep(args: argparse.Namespace) -> int:
    path = _spec_path(args.spec)
    spec = load_sweep_spec(path)
    axes = _axes(args)
    cells = None
    if getattr(args, "cells", None):  # bench --spec S --cells FILE: the lines' configurations, in one sweep
        if axes.keys() - {"emulate"}:
            raise UserError(
                f"--cells {args.cells}: give the configurations either in the file or as --model/--ranks/--backends/"
                "--quants and setting axes on the command line, not both"
            )
        lines = read_cells(args.cells, spec, lambda ns, where: _apply(spec, ns, where, axes=_axes(ns)))
        axes = {**axes, **union_axes(lines)}
        cells = CellFilter(lines)
    spec = _apply(spec, args, str(path), **({"axes": axes} if axes else {}))
    # narrowed from the command line (bench --spec S --model M --ranks R --repeats 3): the runs join the
    # spec's folder, whose earlier runs stay in its report
    return _sweep(spec, str(path), args, add=bool(axes), cells=cells)


def cmd_bench(args: argparse.Namespace) -> int:
    if getattr(args, "cells", None) and not args.spec:
        raise UserError(f"--cells {args.cells}: give it with --spec (the spec whose settings its configurations take)")
    if args.spec:
        return cmd_sweep(argparse.Namespace(**{**vars(args), "spec": args.spec}))
    if not args.model and not getattr(args, "candidates", None):
        default = load_sweep_spec(DEFAULT_SPEC)
        # another data file: its own results folder, next to (not over) the default run's
        named = {"name": f"{default.name}-{flags.data_name(args.data)}"} if args.data else {}
        spec = _apply(default, args, "command line", axes=_axes(args), **named)
        return _sweep(spec, str(DEFAULT_SPEC), args)
    # one model (or the team's list) with the study's settings, on the project's sample data unless --data
    study = load_sweep_spec(STUDY_SPEC)
    weights = args.weights or "real"
    models = [args.model] if args.model else _list_names(args)
    what = _short(args.model or Path(args.candidates).stem)
    spec = _apply(study, args, "command line", name=f"bench-{what}-{weights}", weights=weights,
                  description=f"make bench MODEL={args.model or args.candidates} with the seed study's settings",
                  axes={"candidates": models, "ranks": args.ranks or [16, 32, 64],
                        "backends": args.backends or [PLAIN], "quants": args.quants or ["none"],
                        **setting_axes_given(args)})  # fmt: skip
    return _sweep(spec, f"--model {args.model}" if args.model else f"--candidates {args.candidates}", args)


def cmd_run(args: argparse.Namespace) -> int:
    study = load_sweep_spec(STUDY_SPEC)
    short = _short(args.model)
    name = args.name or "run-" + run_label(
        short, args.rank, args.backend, args.quant, [args.weights or "real"], sep="-"
    )
    spec = _apply(study, args, "command line", name=name, weights=args.weights or "real",
                  axes={"candidates": [args.model], "ranks": [args.rank], "backends": [args.backend],
                        "quants": [args.quant], **setting_axes_given(args)})  # fmt: skip
    return _sweep(spec, f"--model {args.model}", args)
