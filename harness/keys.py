"""Run keys and result-file stems.

A run's key is the sha256 of the canonical JSON (sorted keys, no spaces) of what moves its figures:
- the request (`RunRequest.key_fields`): model spec (hub id or path, config, tokenizer source, LoRA
  targets, template), every setting, the repeat index; the candidate's descriptive fields
  (licence, leaderboard average, the team's published figures) are left out, and so are the
  report's score weights, which are applied at report time;
- the data file's sha256;
- the versions of the packages the run's backend uses (`figure_packages`), and the harness's
  measurement version;
- the GPU name.
Change any of them and the run is a new run; resume skips only runs whose key is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from harness.backends import REGISTRY, get
from harness.config import RunRequest
from harness.data import file_sha256, hub_ref, resolve_data_path
from harness.labels import repeat_tail, run_label
from harness.result import KeyInputs
from harness.versions import MEASUREMENT_VERSION, installed_versions

# Every run uses these; a backend adds its own (`Backend.packages`), nf4 adds bitsandbytes.
CORE_PACKAGES = ("torch", "transformers", "peft", "trl", "datasets", "accelerate", "gguf")
QUANT_PACKAGES = {"nf4": ("bitsandbytes",)}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


# The sweep passes each child what its key hashes besides the request; the child stores it in its result.
KEY_INPUTS_ENV = "HARNESS_KEY_INPUTS"


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_key(request: RunRequest, data_sha256: str, packages: dict[str, str | None], gpu_name: str | None) -> str:
    doc = {"request": request.key_fields(), "data": data_sha256, "packages": packages, "gpu": gpu_name}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def key_of(request: RunRequest, inputs: KeyInputs) -> str:
    """The run key of a request with the other inputs as recorded (a result's `key_inputs`)."""
    return run_key(request, inputs.data_sha256, inputs.packages, inputs.gpu)


def key_inputs_env(inputs: KeyInputs | None) -> dict[str, str]:
    """The child's environment entry carrying its key's other inputs ({} when there are none)."""
    return {KEY_INPUTS_ENV: inputs.model_dump_json()} if inputs is not None else {}


def key_inputs_from_env() -> KeyInputs | None:
    """The key inputs the sweep passed this child; None outside a sweep or when unreadable."""
    text = os.environ.get(KEY_INPUTS_ENV)
    if not text:
        return None
    try:
        return KeyInputs.model_validate_json(text)
    except ValueError:
        return None


def package_names(request: RunRequest | None = None) -> tuple[str, ...]:
    """The packages that move a run's figures; with no request, those of every backend and quant."""
    if request is None:
        extra = [p for b in REGISTRY.values() for p in b.packages] + [p for q in QUANT_PACKAGES.values() for p in q]
    else:
        extra = [*get(request.backend).packages, *QUANT_PACKAGES.get(request.quant, ())]
    return tuple(dict.fromkeys((*CORE_PACKAGES, *extra)))


def figure_packages(request: RunRequest | None = None) -> dict[str, str | None]:
    """Versions of the packages that move the figures, plus the harness's own measurement version."""
    # the harness's own way of measuring moves the figures too (e.g. the sampler moved out of process)
    return {"harness-measurement": MEASUREMENT_VERSION, **installed_versions(package_names(request))}


def data_sha256(path: str | Path) -> str:
    """sha256 of a data file; of the sorted (name, content) pairs for a folder; "missing" when absent; for a hub
    data set, its id (its commit is the request's `data.revision`, pinned by the sweep)."""
    if hub_ref(str(path)) is not None:
        return f"hub:{str(path).strip()}"
    p = resolve_data_path(str(path))  # the same resolution the run uses, so the key hashes the file it loads
    if p.is_file():
        return file_sha256(p)
    h = hashlib.sha256()
    if p.is_dir():
        for f in sorted(x for x in p.rglob("*") if x.is_file()):
            h.update(str(f.relative_to(p)).encode("utf-8") + b"\0")
            h.update(hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()
    return "missing"


def sanitize(text: str) -> str:
    """Only [A-Za-z0-9._-]; no '..', no leading dot (no hidden files); never empty."""
    s = _UNSAFE.sub("_", text)
    while ".." in s:
        s = s.replace("..", ".")
    s = s.lstrip(".-") or "run"
    return s[:150]


def result_stem(request: RunRequest, key: str) -> str:
    """`<candidate>-r<rank>-<backend>-<quant>[-<settings>][-rep<N>|-warmup]-<key[:12]>`, safe as a file name;
    <settings> names what a sweep axis varies (e.g. `b2-len512`), nothing when no setting axis varies."""
    tags = request.tags()  # the varied settings, an emulated run's dtype given once; then '-as-T4'
    if request.emulate is not None:  # '-as-T4', '-fp32-as-Quadro_M6000' (a dtype no axis names)
        tags.append(f"as-{request.emulate.name}")
    label = run_label(request.candidate.name, request.lora.rank, request.backend, request.quant, tags, sep="-",
                      tail=repeat_tail(request.repeat, request.warmup, sep="-"))  # fmt: skip
    prefix = sanitize(label)[:120]
    return f"{prefix}-{sanitize(key.removeprefix('warmup-')[:12])}"
