"""The plan: a key and a file stem for every request (identical requests run once), and the warm-up run."""

from __future__ import annotations

from harness.config import RunRequest
from harness.keys import data_sha256, figure_packages, key_of, result_stem
from harness.result import KeyInputs
from harness.sweep import warmth
from harness.sweep.outcome import PlannedRun
from harness.sweep.progress import Reporter


def plan_runs(
    requests: list[RunRequest],
    gpu_name: str | None,
    timeout_s: int,
) -> tuple[list[PlannedRun], list[str]]:
    """Keys and stems for every request, in order; identical requests are run once."""
    shas: dict[str, str] = {}
    package_sets: dict[tuple[str, str], dict[str, str | None]] = {}
    planned: list[PlannedRun] = []
    seen: set[str] = set()
    warnings = []
    for req in requests:
        path = req.data.path
        if path not in shas:
            shas[path] = data_sha256(path)
        if (req.backend, req.quant) not in package_sets:  # read package metadata once per backend and quant
            package_sets[(req.backend, req.quant)] = figure_packages(req)
        packages = package_sets[(req.backend, req.quant)]
        inputs = KeyInputs(data_sha256=shas[path], packages=packages, gpu=None if req.device == "cpu" else gpu_name)
        key = key_of(req, inputs)
        if key in seen:
            warnings.append(f"{req.label}: the same run is listed twice; it runs once")
            continue
        seen.add(key)
        # the planned run holds its own deep copy: nothing done later to the caller's request can change it
        planned.append(PlannedRun(0, 0, req.model_copy(deep=True), key, result_stem(req, key), timeout_s, inputs))
    for i, p in enumerate(planned, 1):
        p.index, p.total = i, len(planned)
    return planned, warnings


WARMUP_STEPS = 10  # enough for CUDA context, cuBLAS handles, autotuning and disk caches to settle


def warmup_run(first: PlannedRun, timeout_s: int) -> PlannedRun:
    """A short unreported run of the first cell: the machine's first-run costs land on it, not on a candidate.

    It runs whenever the sweep has runs to do (a fresh machine pays those costs again), and its result
    file is kept for the record (the report leaves warm-up runs out).
    """
    fields = first.request.model_dump(mode="json")
    fields["warmup"] = True
    fields["save_adapter"] = False
    fields["train"]["max_steps"] = WARMUP_STEPS
    fields["generation"]["base_answers"] = False
    fields["data"]["eval_rows"] = min(fields["data"]["eval_rows"], 2)
    fields["data"]["grade_rows"] = 0
    req = RunRequest.model_validate(fields)
    key = "warmup-" + first.key
    return PlannedRun(0, first.total, req, key, result_stem(req, key), timeout_s)


def add_warmup(
    to_run: list[PlannedRun],
    enabled: bool,
    key_gpu: str | None,
    warm_id: str | None,
    timeout_s: int,
    reporter: Reporter,
) -> str:
    """Put the warm-up run first when this machine needs one (once per boot and GPU: warmth.py; `warm_id` None:
    the machines are not known here, e.g. Ray's). Returns the manifest's `warmup`: "ran", "off", or why not."""
    if not (to_run and enabled and key_gpu is not None and to_run[0].request.device != "cpu"):
        return "off"
    if warm_id is not None and warmth.is_warm(warm_id):
        why = "a run on this GPU ended ok since the machine booted"
        reporter.message(f"no warm-up run ({why})")
        return f"skipped: {why}"
    to_run.insert(0, warmup_run(to_run[0], timeout_s))
    return "ran"
