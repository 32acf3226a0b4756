"""Reading a results folder: manifest.json, runs/*.json, grades.json; nothing else.

`Run` wraps one `RunResult` with the derived figures the report needs, so the rules (which memory
figure, which phases are the user's work, what a cell is) live in one place. Descriptive candidate
fields (licence, leaderboard average, parameters, the team's T4 figures) come from the candidate
stored in the run's request: the figures the run was made with, not today's candidates.yaml.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.backends import SHOWN_PACKAGES
from harness.config import REPO_ROOT, JobSettings, RankingWeights, RunRequest
from harness.errors import UserError
from harness.fmt import command_text
from harness.labels import repeat_tail, run_label
from harness.phases import SCORING, USER_WORK
from harness.report import keycheck
from harness.result import FAILED_STATUSES, CorruptResult, Generation, PhaseStats, RunResult
from harness.setting_axes import SETTING_AXES, setting_tags

SHAPE_BANNER = "Shape mode: random weights — time and memory are real, quality is not"
# the libraries every run uses, then each backend's own (`Backend.shown_packages`)
PACKAGES_SHOWN = ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", *SHOWN_PACKAGES)


@dataclass
class Mem:
    mib: float | None
    measure: str | None  # "nvml process", "torch reserved", "host RSS"
    phase: str | None = None  # the phase the peak was reached in


@dataclass
class Run:
    result: RunResult
    file: str  # file name inside runs/
    shown: tuple[str, ...] = ()  # settings that differ between the folder's runs (batch_size, ...): in the label

    # ------------------------------------------------------------ identity

    @property
    def request(self) -> RunRequest:
        return self.result.request

    @property
    def info(self) -> dict[str, Any]:
        """The candidate as the run's request stored it (descriptive fields included)."""
        return self.request.candidate.model_dump(mode="json")

    @property
    def candidate(self) -> str:
        return self.result.candidate

    @property
    def rank(self) -> int:
        return self.result.rank

    @property
    def backend(self) -> str:
        return self.request.backend

    @property
    def quant(self) -> str:
        return self.request.quant

    @property
    def repeat(self) -> int:
        return self.request.repeat

    @property
    def weights_mode(self) -> str:
        return self.result.weights.mode if self.result.weights is not None else self.request.weights

    @property
    def cell_id(self) -> str:
        """What the run measured, minus the repeat index: runs with the same cell id are repeats."""
        req = self.request.key_fields()
        req.pop("repeat", None)
        return json.dumps(req, sort_keys=True, default=str)

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def injected(self) -> bool:
        """A fault injected on purpose (tests, the published failure sweep): marked wherever the status shows."""
        flag = getattr(self.result, "injected", None)
        if isinstance(flag, bool):
            return flag
        if flag:  # a list of injected faults
            return True
        return "(injected" in (self.result.reason or "")

    @property
    def status_text(self) -> str:
        return f"{self.status} (injected)" if self.injected else self.status

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def setting_tags(self) -> list[str]:
        """['b2', 'len512'] for the settings that vary in the folder; [] when none does."""
        return setting_tags(self.request.train, self.shown)

    @property
    def settings_text(self) -> str:
        """' b2 len512' for the settings that vary in the folder; '' when none does."""
        return "".join(f" {t}" for t in self.setting_tags)

    @property
    def settings_key(self) -> tuple[str, ...]:
        """The setting axes' values, for a stable order of runs that differ only in them."""
        train = self.request.train
        return tuple(f"{getattr(train, a.field)!s:>8}" for a in SETTING_AXES)

    @property
    def label(self) -> str:
        """'gemma-2-2b-it r16 hf none b2 shape (as T4) #2' (harness.labels)."""
        tags = [*self.setting_tags, "shape" if self.weights_mode == "shape" else ""]
        return run_label(self.candidate, self.rank, self.backend, self.quant, tags, variant=self.request.variant,
                         tail=repeat_tail(self.repeat))  # fmt: skip

    @property
    def ok(self) -> bool:
        """Measured and comparable: status ok (mismatch runs are shown, not compared)."""
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def shape(self) -> bool:
        return self.weights_mode == "shape" or not self.result.quality.meaningful

    @property
    def device(self) -> str | None:
        env = self.result.environment
        if env is not None:
            return env.device
        d = self.request.device
        return d if d in ("cpu", "cuda") else None

    @property
    def packages(self) -> dict[str, str | None]:
        """The package versions the run recorded ({} for a run without an environment)."""
        env = self.result.environment
        return dict(env.packages) if env is not None else {}

    @property
    def gpu_name(self) -> str | None:
        env = self.result.environment
        return env.gpu_name if env is not None else None

    @property
    def boot_id(self) -> str | None:
        """The machine boot the run ran in (None: an older file, or no Linux boot id)."""
        env = self.result.environment
        return env.boot_id if env is not None else None

    @property
    def start_method(self) -> str | None:
        """ "fork" (forked from the sweep's fork server: imports paid once) or "fresh" (a new interpreter)."""
        env = self.result.environment
        if env is None:
            return None
        return "fork" if env.env_vars.get("HARNESS_START") == "fork" else "fresh"

    # ------------------------------------------------------------ phases and memory

    def phase(self, name: str) -> PhaseStats | None:
        return self.result.phases.get(name)

    def phase_s(self, name: str) -> float | None:
        p = self.phase(name)
        return p.wall_s if p is not None else None

    def phase_mem(self, names: tuple[str, ...] | str) -> Mem:
        """Peak over the phases: NVML process, else torch reserved; host RSS on CPU runs. None: not measured."""
        if isinstance(names, str):
            names = (names,)
        phases = [(n, p) for n in names if (p := self.phase(n)) is not None]
        attrs = (
            (("host_rss_peak_mib", "host RSS"),)
            if self.device == "cpu"
            else (("nvml_process_peak_mib", "nvml process"), ("torch_max_reserved_mib", "torch reserved"))
        )
        for attr, label in attrs:
            vals = [(getattr(p, attr), n) for n, p in phases if getattr(p, attr) is not None]
            if vals:
                v, n = max(vals)
                return Mem(v, label, n)
        return Mem(None, None)

    @property
    def user_phases(self) -> tuple[str, ...]:
        return tuple(n for n in USER_WORK if n in self.result.phases)

    @property
    def user_peak(self) -> Mem:
        """Peak over the user's work (fine-tune, answers): what "fits on" and the memory term use."""
        return self.phase_mem(USER_WORK)

    @property
    def scoring_peak(self) -> Mem:
        """Peak of the harness's own answer-likelihood pass: shown apart, never sets "fits on"."""
        return self.phase_mem(SCORING)

    @property
    def train_s(self) -> float | None:
        return self.phase_s("train")

    @property
    def train_mem(self) -> Mem:
        return self.phase_mem("train")

    @property
    def gen_phases(self) -> tuple[str, ...]:
        return tuple(n for n in self.user_phases if n != "train")

    @property
    def billed_hours(self) -> float | None:
        """Wall time of the user's work phases (train, answers), in hours: the cost basis."""
        vals = [s for n in self.user_phases if (s := self.phase_s(n)) is not None]
        return sum(vals) / 3600 if vals else None

    @property
    def energy_j(self) -> float | None:
        vals = [p.energy_j for p in self.result.phases.values() if p.energy_j is not None]
        return sum(vals) if vals else None

    def gen(self, stage: str) -> Generation | None:
        return next((g for g in self.result.generation if g.stage == stage), None)

    @property
    def gen_tuned(self) -> Generation | None:
        return self.gen("tuned") or self.gen("base")

    # ------------------------------------------------------------ quality (the stored stage summaries)

    def metric(self, stage: str, metric: str) -> dict[str, Any] | None:
        """{mean, lo, hi, n} of a stored metric (composites are computed by the report: analysis.quality)."""
        iv = self.result.quality.stage(stage).get(metric)
        return iv.model_dump() if iv is not None and iv.mean is not None else None

    def metrics(self, stage: str) -> list[str]:
        return list(self.result.quality.stage(stage))


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
    mpath = folder / "manifest.json"
    if not mpath.exists():
        notes.append("manifest.json is missing: sweep name, command and ranking weights are defaults")
        return {}
    try:
        raw = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        notes.append(f"manifest.json is unreadable ({e.__class__.__name__}); it was ignored")
        return {}
    if not isinstance(raw, dict):
        notes.append("manifest.json is not a JSON object; it was ignored")
        return {}
    return raw


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
    seen: set[str] = set()
    for path in sorted((folder / "runs").glob("*.json")):
        try:
            res = RunResult.read(path)
        except CorruptResult as e:
            why = str(e).removeprefix(f"{path}: ")
            corrupt.append((path.name, why))
            notes.append(f"runs/{path.name}: skipped, {why}")
            continue
        if res.request.warmup:  # before the plan check: warm-up keys are never in the manifest
            warmups.append(path.name)  # pays the machine's first-run costs: never reported
            continue
        if plan and res.key not in plan:
            stale.append(path.name)  # an earlier plan of this sweep (changed request, packages, data or GPU)
            continue
        if res.key in seen:
            notes.append(f"runs/{path.name}: skipped, a second result file for key {res.key[:12]}")
            continue
        seen.add(res.key)
        runs.append(Run(res, path.name))
    warnings = keycheck.check([(r.file, r.result) for r in runs]).notes()
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


def _attempts(folder: Path) -> list[Run]:
    """attempts/*.json: earlier tries of runs the sweep redid (sweep/layout.py), warm-ups and unreadable files left out."""
    found = []
    for path in sorted((folder / "attempts").glob("*.json")):
        try:
            res = RunResult.read(path)
        except CorruptResult:
            continue
        if not res.request.warmup:
            found.append(Run(res, f"attempts/{path.name}"))
    return found


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
