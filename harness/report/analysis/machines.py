"""Which machine boots a set of runs ran on, and the spread between repeats of one configuration.

Two runs on two boot ids (`Environment.boot_id`) ran on two machines, or either side of a reboot: their
difference holds machine-to-machine spread (a rerun of one comparison on a fresh H200 moved it by 10-20%),
which the intervals over one run's steps do not cover. Older files have no boot id: the GPU's UUID and the
host name still tell two machines apart when they differ; otherwise it is unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.report.load import Run


@dataclass(frozen=True)
class Machines:
    boots: int  # distinct boot ids among the runs that recorded one
    unknown: int  # runs without a boot id
    other_machines: bool  # two GPU UUIDs or host names among the runs without a boot id

    @property
    def one_boot(self) -> bool:
        return self.boots == 1 and self.unknown == 0

    @property
    def differ(self) -> bool | None:
        """True: the runs ran on more than one machine boot; False: on one; None: unknown."""
        if self.boots > 1 or self.other_machines:
            return True
        return False if self.one_boot else None

    @property
    def text(self) -> str:
        if self.differ is True:
            if self.boots > 1:
                more = f", {self.unknown} run(s) unknown" if self.unknown else ""
                return f"{self.boots} machine boots{more}"
            return "other machines (GPU or host differ; no boot id recorded)"
        if self.differ is False:
            return "one machine boot"
        return "unknown (no boot id recorded)"


def machines(runs: Iterable[Run]) -> Machines:
    runs = list(runs)
    ids = {b for r in runs if (b := r.boot_id)}
    old = [r for r in runs if not r.boot_id]
    envs = [r.result.environment for r in old if r.result.environment is not None]
    uuids = {e.gpu_uuid for e in envs if e.gpu_uuid}
    hosts = {e.host for e in envs if e.host}
    return Machines(len(ids), len(old), len(uuids) > 1 or len(hosts) > 1)


@dataclass(frozen=True)
class Spread:
    """The steady step of each repeat of a configuration, and how far apart they lie."""

    steps: list[float]  # each repeat's steady step, s

    @property
    def low(self) -> float:
        return min(self.steps)

    @property
    def high(self) -> float:
        return max(self.steps)

    @property
    def ratio(self) -> float | None:
        """Slowest repeat / fastest repeat (1.00: no spread)."""
        return self.high / self.low if self.low > 0 else None
