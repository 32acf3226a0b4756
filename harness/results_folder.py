"""Reading a results folder's files: manifest.json, runs/*.json and attempts/*.json, each sorted into what it is.

The one reader of run files: the sweep (`harness.sweep.layout.collect_results`: what to keep on resume and
what a finished sweep returns) and the report (`harness.report.load`) both walk a folder through here, and
each words its own notes. Writing the folder is the sweep's (`harness.sweep.layout.SweepDir`).

    results/<sweep name>/manifest.json, runs/<stem>.json, attempts/<stem>-<n>.json, grades.json
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.result import CorruptResult, RunResult

MANIFEST_FILE = "manifest.json"
RUNS_DIR = "runs"
ATTEMPTS_DIR = "attempts"

# What one run file turned out to be, in the order the checks run:
#   corrupt    unreadable, truncated or of another schema (`error` says why)
#   warmup     a sweep's warm-up run: never reported (its key is never in a plan, so this check comes first)
#   stale      a run of an earlier plan of this sweep (its key is not in the plan given)
#   duplicate  a second file holding a key already read
#   run        a result of the plan
Kind = Literal["corrupt", "warmup", "stale", "duplicate", "run"]


@dataclass
class RunFile:
    path: Path
    kind: Kind
    result: RunResult | None = None  # None only when corrupt
    error: CorruptResult | None = None  # set only when corrupt


def read_manifest(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(manifest, None) when it reads as a JSON object; else (None, why): 'missing', 'unreadable (ERROR)' or
    'not a JSON object'."""
    path = Path(folder) / MANIFEST_FILE
    if not path.exists():
        return None, "missing"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # ValueError: JSONDecodeError and UnicodeDecodeError
        return None, f"unreadable ({e.__class__.__name__})"
    if not isinstance(raw, dict):
        return None, "not a JSON object"
    return raw, None


def scan_runs(runs_dir: Path, plan: Collection[str] | None = None) -> Iterator[RunFile]:
    """Every runs/*.json in file-name order, each sorted into its kind; `plan`: the keys of the sweep's latest
    plan (None: every valid file is of the plan)."""
    seen: set[str] = set()
    for path in sorted(Path(runs_dir).glob("*.json")):
        try:
            result = RunResult.read(path)
        except CorruptResult as e:
            yield RunFile(path, "corrupt", error=e)
            continue
        if result.request.warmup:
            yield RunFile(path, "warmup", result)
        elif plan is not None and result.key not in plan:
            yield RunFile(path, "stale", result)
        elif result.key in seen:
            yield RunFile(path, "duplicate", result)
        else:
            seen.add(result.key)
            yield RunFile(path, "run", result)


def read_attempts(folder: Path) -> list[tuple[Path, RunResult]]:
    """attempts/*.json: earlier tries of runs the sweep redid, in file-name order; warm-ups and unreadable files
    left out."""
    found = []
    for path in sorted((Path(folder) / ATTEMPTS_DIR).glob("*.json")):
        try:
            result = RunResult.read(path)
        except CorruptResult:
            continue
        if not result.request.warmup:
            found.append((path, result))
    return found
