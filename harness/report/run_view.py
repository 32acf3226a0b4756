"""One run as the report sees it: `Run` wraps a `RunResult` with the figures the report derives from it.

The rules (which memory figure, which phases are the user's work, what a cell is, a run's label) live here,
once. Descriptive candidate fields (licence, leaderboard average, parameters, the team's T4 figures) come from
the candidate stored in the run's request: the figures the run was made with, not today's candidates.yaml.
Reading a folder of them is `harness.report.load`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.config import RunRequest
from harness.labels import repeat_tail, run_label
from harness.phases import SCORING, USER_WORK
from harness.result import FAILED_STATUSES, Generation, PhaseStats, RunResult
from harness.setting_axes import SETTING_AXES, setting_tags


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
