"""The commands on a results folder: `report`, `deciding` (the configurations that decide it) and `grades`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.sweeping import _made
from harness.config import parse_job
from harness.errors import UserError
from harness.setting_axes import setting_flags


def _results_folder(arg: str) -> Path:
    d = Path(arg)
    if not (d / "runs").is_dir():
        raise UserError(f"{d}: not a results folder (no runs/ inside); give the folder a sweep wrote")
    return d


def cmd_report(args: argparse.Namespace) -> int:
    from harness.report import build_report

    d = _results_folder(args.results_dir)
    job = parse_job(args.job) if args.job else None
    weights = _quality_weights(args.quality_weights) if args.quality_weights else None
    if getattr(args, "push_to_hub", None):
        from harness.report import hub

        hub.check_repo_id(args.push_to_hub)
    files = build_report(d, job=job, quality_weights=weights, predict_memory=True)
    for w in files.warnings:
        print(f"warning: {w}", file=sys.stderr)
    for f in (files.csv, files.markdown, files.html):
        print(f)
    _made(args, files)
    if getattr(args, "push_to_hub", None):
        print(f"pushed: {hub.push(d, args.push_to_hub)}")  # after the report is written: a failure keeps it
    return 0


def cmd_deciding(args: argparse.Namespace) -> int:
    """One line per configuration that decides the ranking: `--model M --ranks R --backends B --quants Q`."""
    from harness.report.analysis.decision import deciding
    from harness.report.build import analyse_folder

    d = _results_folder(args.results_dir)
    analysis = analyse_folder(d)
    rows = deciding(analysis.decision, top=args.top)
    if not rows:
        raise UserError(f"{d}: no run ended ok, so nothing decides a ranking yet")
    for row in rows:
        c = row.cell
        print(
            f"--model {c.candidate} --ranks {c.rank} --backends {c.backend} --quants {c.quant}{setting_flags(c.first)}"
        )
    return 0


def _quality_weights(text: str) -> dict[str, float]:
    """'chrf=2,contains=1' -> {"chrf": 2.0, "contains": 1.0}; names are checked by the quality module."""
    from harness.quality.score import resolve_weights

    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--quality-weights: '{part}' is not NAME=NUMBER (e.g. chrf=2,contains=1)") from None
        if not sep:
            raise UserError(f"--quality-weights: '{part}' is not NAME=NUMBER (e.g. chrf=2,contains=1)")
    resolve_weights(out)  # a one-line UserError for an unknown name
    return out


def cmd_grades(args: argparse.Namespace) -> int:
    from harness.quality import grades

    if args.grades_cmd == "export":
        src = Path(args.source)
        out = Path(args.out) if args.out else (src if src.is_dir() else src.parent) / "grading-sheet.csv"
        n = grades.export_sheet(src, out)
        print(f"{out}: {n} answers to grade (최상=5, 상=4, 중=3, 하=2, 최하=1)")
    else:
        results = Path(args.results) if args.results else Path(args.file).parent
        n = grades.import_sheet(Path(args.file), results)
        print(f"{results / 'grades.json'}: {n} grades merged; run `lora-harness report {results}` to show them")
    return 0
