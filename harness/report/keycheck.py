"""Does each run file's stored request still hash to its run key?

A run's key is taken from its request before it runs (harness/keys.py). A request that changed
afterwards (a library writing into the candidate's nested `shape_config`, as transformers did with a
llama3 `rope_scaling`) is stored under a key it no longer has: repeats of one configuration then fall
into two cells of the report. The key is recomputed with `keys.key_of`, the sweep's own function, from:
- the inputs the sweep recorded beside the request (`RunResult.key_inputs`: data sha256, package
  versions, GPU name), when the file has them: a mismatch is then the request's alone;
- else (older files) the data file as it is now, and the package versions, measurement version and GPU
  name the run's environment recorded: a mismatch may then also be a changed data file or package list.
A file that cannot be re-hashed (no recorded inputs, and its data file is not here) is counted, not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.keys import data_sha256, key_of, package_names
from harness.result import KeyInputs, RunResult


@dataclass
class KeyCheck:
    mismatched: list[tuple[str, str]] = field(default_factory=list)  # (file, why), one per run file
    unchecked: list[str] = field(default_factory=list)  # files whose key's inputs are not known here
    data_missing: set[str] = field(default_factory=set)  # data paths not found, for the unchecked ones

    def notes(self) -> list[str]:
        """One line per run file whose request does not re-hash to its key, and one for those not checked."""
        out = [f"runs/{f}: {why}" for f, why in self.mismatched]
        if self.unchecked:
            shown = ", ".join(self.unchecked[:3]) + (" ..." if len(self.unchecked) > 3 else "")
            out.append(
                f"{len(self.unchecked)} run file(s) could not be re-hashed to their key: they predate the recorded"
                f" key inputs and their data file ({', '.join(sorted(self.data_missing)) or 'unknown'}) is not"
                f" here: {shown}"
            )
        return out


def inputs_of(result: RunResult, shas: dict[str, str] | None = None) -> tuple[KeyInputs | None, bool]:
    """(the key's other inputs, recorded?): the recorded ones, else rebuilt from the run's environment and the
    data file as it is now; None when the data file or the environment is missing. `shas` caches data hashes."""
    if result.key_inputs is not None:
        return result.key_inputs, True
    env = result.environment
    if env is None or env.measurement_version is None:
        return None, False
    shas = {} if shas is None else shas
    path = result.request.data.path
    sha = shas[path] if path in shas else shas.setdefault(path, data_sha256(path))
    if sha == "missing":
        return None, False
    names = package_names(result.request)
    packages = {"harness-measurement": env.measurement_version, **{n: env.packages.get(n) for n in names}}
    gpu = None if result.request.device == "cpu" else env.gpu_name
    return KeyInputs(data_sha256=sha, packages=packages, gpu=gpu), False


def check(files: list[tuple[str, RunResult]]) -> KeyCheck:
    """Re-hash the stored request of every (file name, result); warm-up runs (keyed apart) are skipped."""
    out = KeyCheck()
    shas: dict[str, str] = {}
    for name, res in files:
        if res.request.warmup:
            continue
        inputs, recorded = inputs_of(res, shas)
        if inputs is None:
            out.unchecked.append(name)
            out.data_missing.add(res.request.data.path)
            continue
        again = key_of(res.request, inputs)
        if again == res.key:
            continue
        if recorded:
            why = (
                f"its stored request does not re-hash to its key ({res.key[:12]}; now {again[:12]}): the request"
                " changed after the run was keyed, so the run may be grouped apart from its repeats; rerun it"
            )
        else:
            why = (
                f"its stored request does not re-hash to its key ({res.key[:12]}; now {again[:12]}) with the data"
                " file as it is now and the versions and GPU it recorded: the request changed after it was keyed,"
                " or the data file or the key's package list changed since"
            )
        out.mismatched.append((name, why))
    return out
