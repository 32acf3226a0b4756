"""Reading a results folder: manifest.json, runs/*.json, grades.json; nothing else.

`Run` wraps one `RunResult` with the derived figures the report needs, so the
rules (which memory figure, which phases count as cost) live in one place.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.config import CandidateFile, RankingWeights, load_candidates
from harness.errors import UserError
from harness.result import FAILED_STATUSES, CorruptResult, Generation, PhaseStats, RunResult

PHASE_ORDER = ("load", "generate_base", "eval_base", "train", "generate_tuned", "eval_tuned", "score")
SHAPE_BANNER = "Shape mode: random weights — time and memory are real, quality is not"
PACKAGES_SHOWN = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "datasets",
    "bitsandbytes",
    "unsloth",
    "unsloth_zoo",
)


def phase_sort_key(name: str) -> tuple[int, str]:
    return (PHASE_ORDER.index(name), "") if name in PHASE_ORDER else (len(PHASE_ORDER), name)


@dataclass
class Mem:
    mib: float | None
    measure: str | None  # "nvml process", "torch reserved", "host RSS"


@dataclass
class Run:
    result: RunResult
    file: str  # file name inside runs/

    # ------------------------------------------------------------ identity

    @property
    def req(self) -> dict[str, Any]:
        return self.result.request if isinstance(self.result.request, dict) else {}

    @property
    def cand_dict(self) -> dict[str, Any]:
        c = self.req.get("candidate")
        return c if isinstance(c, dict) else {}

    @property
    def candidate(self) -> str:
        return str(self.cand_dict.get("name") or "?")

    @property
    def rank(self) -> int | None:
        try:
            return int(self.req["lora"]["rank"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def backend(self) -> str:
        return str(self.req.get("backend", "hf"))

    @property
    def quant(self) -> str:
        return str(self.req.get("quant", "none"))

    @property
    def weights_mode(self) -> str:
        if self.result.weights is not None:
            return self.result.weights.mode
        return str(self.req.get("weights", "real"))

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def key(self) -> str:
        return self.result.key

    @property
    def variant(self) -> tuple[str, str, str, str]:
        return (self.candidate, self.backend, self.quant, self.weights_mode)

    @property
    def ok(self) -> bool:
        """Measured and comparable: status ok (mismatch runs are shown, not compared)."""
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        return self.status in FAILED_STATUSES

    @property
    def shape(self) -> bool:
        return self.weights_mode == "shape" or self.result.quality.get("meaningful") is False

    @property
    def device(self) -> str | None:
        env = self.result.environment
        if env is not None:
            return env.device
        d = self.req.get("device")
        return d if d in ("cpu", "cuda") else None

    @property
    def gpu_name(self) -> str | None:
        env = self.result.environment
        return env.gpu_name if env is not None else None

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
        phases = [p for n in names if (p := self.phase(n)) is not None]
        if self.device == "cpu":
            vals = [p.host_rss_peak_mib for p in phases if p.host_rss_peak_mib is not None]
            return Mem(max(vals), "host RSS") if vals else Mem(None, None)
        for attr, label in (("nvml_process_peak_mib", "nvml process"), ("torch_max_reserved_mib", "torch reserved")):
            vals = [getattr(p, attr) for p in phases if getattr(p, attr) is not None]
            if vals:
                return Mem(max(vals), label)
        return Mem(None, None)

    def phase_attr(self, names: tuple[str, ...], attr: str) -> float | None:
        vals = [getattr(p, attr) for n in names if (p := self.phase(n)) is not None and getattr(p, attr) is not None]
        return max(vals) if vals else None

    @property
    def train_s(self) -> float | None:
        return self.phase_s("train")

    @property
    def train_mem(self) -> Mem:
        return self.phase_mem("train")

    @property
    def gen_phases(self) -> tuple[str, ...]:
        return tuple(n for n in self.result.phases if n.startswith("generate"))

    @property
    def peak_mem(self) -> Mem:
        """Peak over every phase: what the run needed from the device."""
        return self.phase_mem(tuple(self.result.phases))

    @property
    def billed_hours(self) -> float | None:
        """Train + generation wall time of the run, in hours (the cost basis)."""
        names = ["train", *self.gen_phases]
        vals = [s for n in names if (s := self.phase_s(n)) is not None]
        return sum(vals) / 3600 if vals else None

    @property
    def energy_j(self) -> float | None:
        vals = [p.energy_j for p in self.result.phases.values() if p.energy_j is not None]
        return sum(vals) if vals else None

    def gen(self, stage: str) -> Generation | None:
        for g in self.result.generation:
            if g.stage == stage:
                return g
        return None

    @property
    def gen_tuned(self) -> Generation | None:
        return self.gen("tuned") or self.gen("base")

    # ------------------------------------------------------------ quality

    def metric(self, stage: str, metric: str) -> dict[str, Any] | None:
        """{mean, lo, hi, n} or None. The composite lives in quality[stage] or quality['composite'][stage]."""
        q = self.result.quality
        block = q.get(stage)
        if isinstance(block, dict) and isinstance(block.get(metric), dict) and block[metric].get("mean") is not None:
            return block[metric]
        if metric == "composite":
            comp = q.get("composite")
            if isinstance(comp, dict):
                v = comp.get(stage)
                if isinstance(v, dict) and v.get("mean") is not None:
                    return v
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    return {"mean": float(v), "lo": None, "hi": None, "n": None}
        return None

    def metrics(self, stage: str) -> list[str]:
        block = self.result.quality.get(stage)
        names = [k for k, v in block.items() if isinstance(v, dict)] if isinstance(block, dict) else []
        return [n for n in names if n != "composite"]

    def composite(self, stage: str = "tuned") -> dict[str, Any] | None:
        return self.metric(stage, "composite")

    @property
    def quality_meaningful(self) -> bool:
        return not self.shape and self.composite("tuned") is not None

    def answer_scores(self, stage: str, metric: str) -> dict[str, float]:
        out = {}
        for a in self.result.answers:
            if a.stage == stage:
                v = a.scores.get(metric)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    out[a.id] = float(v)
        return out


@dataclass
class ResultSet:
    folder: Path
    manifest: dict[str, Any]
    runs: list[Run]
    notes: list[str] = field(default_factory=list)  # corrupt files, missing manifest, ...
    corrupt: list[tuple[str, str]] = field(default_factory=list)  # (file, why)
    grades: Any = None
    candidates: CandidateFile | None = None

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
        c = self.manifest.get("command")
        if isinstance(c, list):
            return shlex.join(str(x) for x in c)
        return str(c) if c else None

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
    def planned_keys(self) -> list[str]:
        """Keys of the sweep's latest plan: manifest runs [{key, stem, label}] (or a plain keys list)."""
        keys = self.manifest.get("runs") if isinstance(self.manifest.get("runs"), list) else self.manifest.get("keys")
        if isinstance(keys, dict):
            return [str(v) if isinstance(v, str) else str(k) for k, v in keys.items()]
        if isinstance(keys, list):
            out = []
            for k in keys:
                if isinstance(k, str):
                    out.append(k)
                elif isinstance(k, dict) and isinstance(k.get("key"), str):
                    out.append(k["key"])
            return out
        return []

    def candidate_info(self, run: Run) -> dict[str, Any]:
        """candidates.yaml's entry (current), else the copy inside the run's request."""
        if self.candidates is not None:
            for c in self.candidates.candidates:
                if c.name == run.candidate:
                    return c.model_dump()
        return run.cand_dict


def load_results(folder: Path, candidates_file: Path | None = None) -> ResultSet:
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: results folder not found; pass the folder a sweep wrote (results/<sweep name>)")
    notes: list[str] = []
    manifest: dict[str, Any] = {}
    mpath = folder / "manifest.json"
    if mpath.exists():
        try:
            raw = json.loads(mpath.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                manifest = raw
            else:
                notes.append("manifest.json is not a JSON object; it was ignored")
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            notes.append(f"manifest.json is unreadable ({e.__class__.__name__}); it was ignored")
    else:
        notes.append("manifest.json is missing: sweep name, command and ranking weights are defaults")

    runs: list[Run] = []
    corrupt: list[tuple[str, str]] = []
    plan = set(ResultSet(folder, manifest, []).planned_keys)
    stale: list[str] = []
    seen: set[str] = set()
    for path in sorted((folder / "runs").glob("*.json")):
        try:
            res = RunResult.read(path)
        except CorruptResult as e:
            why = str(e).removeprefix(f"{path}: ")
            corrupt.append((path.name, why))
            notes.append(f"runs/{path.name}: skipped, {why}")
            continue
        if plan and res.key not in plan:
            stale.append(path.name)  # an earlier plan of this sweep (changed request, packages, data or GPU)
            continue
        if res.key in seen:
            notes.append(f"runs/{path.name}: skipped, a second result file for key {res.key[:12]}")
            continue
        seen.add(res.key)
        runs.append(Run(res, path.name))
    if stale:
        notes.append(
            f"{len(stale)} result file(s) of an earlier plan of this sweep (keys not in manifest.json) left out: "
            + ", ".join(stale[:5])
            + (" ..." if len(stale) > 5 else "")
        )

    grades = None
    gpath = folder / "grades.json"
    if gpath.exists():
        try:
            grades = json.loads(gpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            notes.append(f"grades.json is unreadable ({e.__class__.__name__}); human grades are left out")

    candidates = None
    if candidates_file is not None:
        candidates = load_candidates(Path(candidates_file))  # named by the user: errors are theirs to fix
    else:
        from harness.config import CANDIDATES_FILE

        if CANDIDATES_FILE.exists():
            try:
                candidates = load_candidates(CANDIDATES_FILE)
            except UserError as e:
                notes.append(f"{e}; the candidate copies inside the result files are used")
        else:
            notes.append(
                "candidates.yaml not found: parameters, leaderboard averages and published figures come from the result files"
            )
    return ResultSet(folder, manifest, runs, notes, corrupt, grades, candidates)


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
