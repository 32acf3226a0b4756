"""The sweep's manifest.json: the plan (spec, command, runs), written before the first run, and one invocation
record per call (where it ran, its counts, wall time and overhead), finished when the call ends."""

from __future__ import annotations

from typing import Any

from harness.config import SweepSpec
from harness.sweep.layout import MANIFEST_VERSION, SweepDir
from harness.sweep.outcome import PlannedRun

MAX_INVOCATIONS = 50


def new_manifest(
    layout: SweepDir,
    spec: SweepSpec,
    command: list[str] | str,
    planned: list[PlannedRun],
    executor_fields: dict[str, Any],
    where: str,
    started_at: str,
    packages: dict[str, str | None],
    *,
    add: bool = False,
) -> dict[str, Any]:
    """The manifest of this call: the folder's earlier one carried on (its creation, its last invocations; with
    `add`, its runs, spec and command too), this call's invocation open at the end.
    `executor_fields`: the executor's executor, ray_address, gpus and gpu_baseline (Executor.manifest_fields)."""
    old = layout.read_manifest() or {}
    runs = [{"key": p.key, "stem": p.stem, "label": p.label} for p in planned]
    if add and isinstance(old.get("runs"), list):
        # earlier runs first, in their order; the plan's spec stays the study's (name, job, ranking)
        before = [r for r in old["runs"] if isinstance(r, dict) and "key" in r]
        known = {r["key"] for r in before}
        runs = before + [r for r in runs if r["key"] not in known]
        spec_raw = old.get("spec") if isinstance(old.get("spec"), dict) else spec.model_dump(mode="json")
    else:
        spec_raw = spec.model_dump(mode="json")
    invocations = [i for i in old.get("invocations", []) if isinstance(i, dict)][-(MAX_INVOCATIONS - 1) :]
    invocations.append({"started_at": started_at, "finished_at": None, "command": command, "where": where})
    return {
        "manifest_version": MANIFEST_VERSION,
        "name": spec.name,
        "spec": spec_raw,
        "command": old["command"] if add and old.get("command") else command,  # adding keeps the study's
        "created_at": old.get("created_at") or started_at,
        "updated_at": started_at,
        **executor_fields,
        "packages": packages,
        "runs": runs,
        "invocations": invocations,
    }


def finish_invocation(manifest: dict[str, Any], finished_at: str, **figures: Any) -> None:
    """Close this call's invocation record with its figures; the manifest's `updated_at` is its end."""
    invocation = manifest["invocations"][-1]
    invocation.update(finished_at=finished_at, **figures)
    manifest["updated_at"] = finished_at
