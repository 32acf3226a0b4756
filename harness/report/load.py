"""Reading a results folder for the report: manifest.json, runs/*.json, attempts/*.json, grades.json; nothing else.

The files are read through `harness.results_folder` (the sweep reads them there too); this module words the
report's notes on them and wraps each run as a `Run` (`harness.report.run_view`, re-exported here).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.backends import SHOWN_PACKAGES
from harness.config import REPO_ROOT, JobSettings, RankingWeights
from harness.errors import UserError
from harness.fmt import command_text
from harness.report import keycheck
from harness.report.run_view import Mem, Run
from harness.results_folder import RUNS_DIR, read_attempts, read_manifest, scan_runs
from harness.setting_axes import SETTING_AXES

__all__ = [
    "PACKAGES_SHOWN",
    "SHAPE_BANNER",
    "Mem",
    "ResultSet",
    "Run",
    "grade_summary",
    "load_results",
    "sampler_period_ms",
    "sort_runs",
    "varying_settings",
]

SHAPE_BANNER = "Shape mode: random weights — time and memory are real, quality is not"
# the libraries every run uses, then each backend's own (`Backend.shown_packages`)
PACKAGES_SHOWN = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", *SHOWN_PACKAGES)


@dataclass
class ResultSet:
    folder: Path
    manifest: dict[str, Any]
    runs: list[Run]
    notes: list[str] = field(default_factory=list)  # corrupt files, missing manifest, ...
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    grades: Any = None
    attempts: list[Run] = field(default_factory=list)  # earlier tries of redone runs (attempts/): overhead only
    warnings: list[str] = field(default_factory=list)  # also in notes; `report` prints them (e.g. keys that fail)

    @property
    def spec(self) -> dict[str, Any]:
        s = self.manifest.get("spec")
        return s if isinstance(s, dict) else {}

    @property
    def sweep_name(self) -> str:
        return str(self.spec.get("name") or self.manifest.get("name") or self.folder.name)

    @property
    def description(self) -> str:
        return str(self.spec.get("description") or "")

    @property
    def command(self) -> str | None:
        """The sweep's command as typed, paths relative to the repo."""
        return command_text(self.manifest.get("command"), REPO_ROOT)

    @property
    def ranking_weights(self) -> RankingWeights:
        raw = self.spec.get("ranking")
        if isinstance(raw, dict):
            try:
                return RankingWeights.model_validate(raw)
            except ValidationError:
                self.notes.append("manifest.json: spec.ranking is invalid; the default ranking weights are used")
        return RankingWeights()

    @property
    def spec_quality_weights(self) -> dict[str, float] | None:
        raw = self.spec.get("quality_weights")
        return raw if isinstance(raw, dict) else None

    @property
    def spec_job(self) -> JobSettings | None:
        """The spec's `job:` block (None when the sweep named none, or the manifest's copy is invalid)."""
        raw = self.spec.get("job")
        if not isinstance(raw, dict):
            return None
        try:
            return JobSettings.model_validate(raw)
        except ValidationError:
            self.notes.append("manifest.json: spec.job is invalid; the measured runs' own steps are projected")
            return None

    @property
    def planned_keys(self) -> list[str]:
        """Keys of the sweep's latest plan: manifest runs [{key, stem, label}] (or a plain keys list)."""
        keys = self.manifest.get("runs") if isinstance(self.manifest.get("runs"), list) else self.manifest.get("keys")
        if isinstance(keys, dict):
            return [str(v) if isinstance(v, str) else str(k) for k, v in keys.items()]
        if isinstance(keys, list):
            return [k if isinstance(k, str) else k["key"] for k in keys if isinstance(k, str) or _keyed(k)]
        return []

    @property
    def planned_labels(self) -> dict[str, str]:
        runs = self.manifest.get("runs")
        return {r["key"]: r["label"] for r in runs or [] if _keyed(r) and isinstance(r.get("label"), str)}


def _keyed(r: Any) -> bool:
    return isinstance(r, dict) and isinstance(r.get("key"), str)


def _manifest(folder: Path, notes: list[str]) -> dict[str, Any]:
    raw, problem = read_manifest(folder)
    if problem == "missing":
        notes.append("manifest.json is missing: sweep name, command and ranking weights are defaults")
    elif problem:
        notes.append(f"manifest.json is {problem}; it was ignored")
    return raw or {}


def load_results(folder: Path) -> ResultSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: results folder not found; pass the folder a sweep wrote (results/<sweep name>)")
    notes: list[str] = []
    manifest = _manifest(folder, notes)
    runs: list[Run] = []
    corrupt: list[tuple[str, str]] = []
    plan = set(ResultSet(folder, manifest, []).planned_keys)
    stale: list[str] = []
    warmups: list[str] = []
    for f in scan_runs(folder / RUNS_DIR, plan or None):
        name = f.path.name
        if f.kind == "corrupt":
            why = str(f.error).removeprefix(f"{f.path}: ")
            corrupt.append((name, why))
            notes.append(f"runs/{name}: skipped, {why}")
        elif f.kind == "warmup":
            warmups.append(name)  # pays the machine's first-run costs: never reported
        elif f.kind == "stale":
            stale.append(name)  # an earlier plan of this sweep (changed request, packages, data or GPU)
        elif f.kind == "duplicate":
            assert f.result is not None
            notes.append(f"runs/{name}: skipped, a second result file for key {f.result.key[:12]}")
        else:
            assert f.result is not None
            runs.append(Run(f.result, name))
    warnings = keycheck.check([(folder / RUNS_DIR / r.file, r.result) for r in runs]).notes()
    warnings += mixed_periods(runs)
    notes += warnings
    if stale:
        notes.append(
            f"{len(stale)} result file(s) of an earlier plan of this sweep (keys not in manifest.json) left out: "
            + ", ".join(stale[:5])
            + (" ..." if len(stale) > 5 else "")
        )
    if warmups:
        notes.append(
            f"{len(warmups)} warm-up run(s) left out (they pay the machine's first-run costs): "
            + ", ".join(warmups[:3])
        )
    attempts = _attempts(folder)
    shown = varying_settings(runs)
    for r in runs + attempts:
        r.shown = shown
    if attempts:
        notes.append(
            f"{len(attempts)} earlier attempt(s) of runs that were redone kept in attempts/ (not ranked; their"
            " seconds count in the sweep overhead): "
            + ", ".join(f"{a.label} ({a.status})" for a in attempts[:5])
            + (" ..." if len(attempts) > 5 else "")
        )
    grades = None
    gpath = folder / "grades.json"
    if gpath.exists():
        try:
            grades = json.loads(gpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            notes.append(f"grades.json is unreadable ({e.__class__.__name__}); human grades are left out")
    return ResultSet(folder, manifest, runs, notes, corrupt, grades, attempts, warnings)


_PERIOD = re.compile(r"every ([0-9.]+) ms")


def sampler_period_ms(monitor: str | None) -> float | None:
    """The memory sampler's period as a run's environment records it (`Monitor.description`), None where it does not."""
    m = _PERIOD.search(monitor or "")
    return float(m.group(1)) if m else None


def mixed_periods(runs: list[Run]) -> list[str]:
    """A warning when the GPU runs here sampled at different periods: the sampler's cost moved step and answer times
    by up to 22% between 10 and 50 ms (reports/sampler-ab-h200/), so such runs' times are not comparable."""
    periods = Counter(
        p
        for r in runs
        if (env := r.result.environment) is not None and env.device != "cpu"
        and (p := sampler_period_ms(env.monitor)) is not None
    )  # fmt: skip
    if len(periods) < 2:
        return []
    counts = ", ".join(f"every {p:g} ms: {n} run(s)" for p, n in sorted(periods.items()))
    return [
        f"the runs here sampled GPU memory at different periods ({counts}): the sampler's own cost differs with its"
        " period (steps and answers took up to 22% longer at 10 ms than at 50 ms), so their times are not comparable"
    ]


def _attempts(folder: Path) -> list[Run]:
    """attempts/*.json: earlier tries of runs the sweep redid (sweep/layout.py), warm-ups and unreadable files left out."""
    return [Run(result, f"attempts/{path.name}") for path, result in read_attempts(folder)]


def varying_settings(runs: list[Run]) -> tuple[str, ...]:
    """The setting axes (harness/setting_axes.py) whose value differs between the runs."""
    return tuple(a.field for a in SETTING_AXES if len({repr(getattr(r.request.train, a.field)) for r in runs}) > 1)


def sort_runs(runs: list[Run]) -> list[Run]:
    return sorted(
        runs,
        key=lambda r: (r.candidate, r.backend, r.quant, r.weights_mode, r.rank or 0, r.settings_key, r.repeat, r.key),
    )


def grade_summary(grades: Any) -> list[dict[str, Any]]:
    """grades.json keyed by run key, stage and answer id -> one row per (key, stage) with its values.

    A grade is a number, or a mapping with a numeric `grade`/`score`/`value`.
    """
    rows: list[dict[str, Any]] = []
    if not isinstance(grades, dict):
        return rows
    body = grades.get("grades") if isinstance(grades.get("grades"), dict) else grades
    for key, stages in body.items():
        if not isinstance(stages, dict):
            continue
        for stage, answers in stages.items():
            if not isinstance(answers, dict):
                continue
            vals = [v for g in answers.values() if (v := _grade_value(g)) is not None]
            if vals:
                rows.append({"key": str(key), "stage": str(stage), "values": vals})
    return rows


def _grade_value(g: Any) -> float | None:
    if isinstance(g, bool):
        return None
    if isinstance(g, (int, float)):
        return float(g)
    if isinstance(g, dict):
        for k in ("grade", "score", "value"):
            v = g.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
    return None
