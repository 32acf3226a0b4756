"""Does each run file's stored request still hash to its run key?

A run's key is taken from its request before it runs (harness/keys.py). A request that changed
afterwards (a library writing into the candidate's nested `shape_config`, as transformers did with a
llama3 `rope_scaling`) is stored under a key it no longer has: repeats of one configuration then fall
into two cells of the report. The key is recomputed from:
- the inputs the sweep recorded beside the request (`RunResult.key_inputs`: data sha256, package
  versions, GPU name), when the file has them, with `keys.key_of`, the sweep's own function: a mismatch is
  then the request's alone;
- else, for a schema-1 file (harness e6db1ed and before), in the first key form (`first_form_key`): the
  request exactly as the raw file stores it, the data file as it is now, and the GPU name, measurement
  version and the package versions the run's environment recorded, of every backend of its day
  (`backends.FIRST_KEY_FORM_PACKAGES`);
- else (older schema-2 files) with `keys.key_of`, from the data file as it is now and the package versions,
  measurement version and GPU name the run's environment recorded.
Without recorded inputs a mismatch may also be a changed data file or package list. Only files without
recorded inputs are read again, raw (the schema version is gone once a file is upgraded on reading).
A file that cannot be re-hashed is counted, not judged, one note per reason: its data file is not here, it
records no environment (a run cancelled before it started measuring), its environment has no measurement
version, or it could not be read again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from harness.backends import FIRST_KEY_FORM_PACKAGES
from harness.keys import canonical_json, data_sha256, key_of, package_names
from harness.result import KeyInputs, RunResult

NO_ENVIRONMENT = "record no environment (e.g. a run cancelled before it started measuring)"
NO_MEASUREMENT_VERSION = "predate the recorded key inputs and their environment records no measurement version"
UNREADABLE = "could not be read again"

RECORDED, ENVIRONMENT, FIRST_FORM = "recorded", "environment", "first form"


class Rehash(NamedTuple):
    key: str | None  # None: not re-hashed
    how: str  # with a key: RECORDED, ENVIRONMENT or FIRST_FORM; without: why not (the unchecked note's reason)


@dataclass
class KeyCheck:
    mismatched: list[tuple[str, str]] = field(default_factory=list)  # (file, why), one per run file
    unchecked: dict[str, list[str]] = field(default_factory=dict)  # why not re-hashed -> files

    def notes(self) -> list[str]:
        """One line per run file whose request does not re-hash to its key, and one per reason files were not
        checked."""
        out = [f"runs/{f}: {why}" for f, why in self.mismatched]
        for why, files in self.unchecked.items():
            shown = ", ".join(files[:3]) + (" ..." if len(files) > 3 else "")
            out.append(f"{len(files)} run file(s) could not be re-hashed to their key: they {why}: {shown}")
        return out


def data_missing(path: str) -> str:
    return f"predate the recorded key inputs and their data file ({path}) is not here"


def first_form_key(raw: dict[str, Any], data_sha: str) -> str:
    """The key in its first form (schema-1 files): the raw file's request as stored (schema 1 kept
    `quality_weights` in it), every backend's package versions, and the measurement version from version 2 on."""
    request = raw["request"]
    env = raw.get("environment") or {}
    mv = env.get("measurement_version")
    versions = env.get("packages") or {}
    packages = ({"harness-measurement": mv} if mv else {}) | {n: versions.get(n) for n in FIRST_KEY_FORM_PACKAGES}
    gpu = None if request.get("device") == "cpu" else env.get("gpu_name")
    doc = {"request": request, "data": data_sha, "packages": packages, "gpu": gpu}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def _read_raw(path: Path) -> dict[str, Any] | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: JSONDecodeError and UnicodeDecodeError
        return None
    return raw if isinstance(raw, dict) else None


def rehash(path: Path, result: RunResult, shas: dict[str, str] | None = None) -> Rehash:
    """The key of the result read from `path`, re-hashed from its stored request (see the module's docstring).
    `shas` caches data hashes."""
    if result.key_inputs is not None:
        return Rehash(key_of(result.request, result.key_inputs), RECORDED)
    env = result.environment
    if env is None:
        return Rehash(None, NO_ENVIRONMENT)
    raw = _read_raw(path)
    if raw is None:
        return Rehash(None, UNREADABLE)
    first = raw.get("schema_version") == 1
    if not first and env.measurement_version is None:
        return Rehash(None, NO_MEASUREMENT_VERSION)
    shas = {} if shas is None else shas
    data = result.request.data.path  # schema 1 stored the same path: the upgrade leaves `data` as it is
    sha = shas[data] if data in shas else shas.setdefault(data, data_sha256(data))
    if sha == "missing":
        return Rehash(None, data_missing(data))
    if first:
        return Rehash(first_form_key(raw, sha), FIRST_FORM)
    packages = {
        "harness-measurement": env.measurement_version,
        **{n: env.packages.get(n) for n in package_names(result.request)},
    }
    gpu = None if result.request.device == "cpu" else env.gpu_name
    return Rehash(key_of(result.request, KeyInputs(data_sha256=sha, packages=packages, gpu=gpu)), ENVIRONMENT)


def check(files: list[tuple[Path, RunResult]]) -> KeyCheck:
    """Re-hash the stored request of every (file path, result); warm-up runs (keyed apart) are skipped."""
    out = KeyCheck()
    shas: dict[str, str] = {}
    for path, res in files:
        if res.request.warmup:
            continue
        again, how = rehash(path, res, shas)
        if again is None:
            out.unchecked.setdefault(how, []).append(path.name)
            continue
        if again == res.key:
            continue
        differs = f"its stored request does not re-hash to its key ({res.key[:12]}; now {again[:12]})"
        if how == RECORDED:
            why = (
                f"{differs}: the request changed after the run was keyed, so the run may be grouped apart from its"
                " repeats; rerun it"
            )
        elif how == FIRST_FORM:
            why = (
                f"{differs} in the first key form (schema-1 files) with the data file as it is now and the versions"
                " and GPU it recorded: the request changed after it was keyed, or the data file changed since"
            )
        else:
            why = (
                f"{differs} with the data file as it is now and the versions and GPU it recorded: the request"
                " changed after it was keyed, or the data file or the key's package list changed since"
            )
        out.mismatched.append((path.name, why))
    return out
