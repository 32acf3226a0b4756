"""Run keys and result-file stems.

A run's key is the sha256 of the canonical JSON (sorted keys, no spaces) of
{request, data, packages, gpu}: the request as a JSON dump, the data file's
sha256, the versions of the packages that move the figures, and the GPU name.
Change any of them and the run is a new run; resume skips only runs whose key
is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import metadata
from pathlib import Path

from harness.config import RunRequest
from harness.data import file_sha256, resolve_data_path

FIGURE_PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "datasets",
    "accelerate",
    "bitsandbytes",
    "unsloth",
    "unsloth_zoo",
    "gguf",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def canonical_json(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_key(request: RunRequest, data_sha256: str, packages: dict[str, str | None], gpu_name: str | None) -> str:
    doc = {"request": request.model_dump(mode="json"), "data": data_sha256, "packages": packages, "gpu": gpu_name}
    return hashlib.sha256(canonical_json(doc).encode("utf-8")).hexdigest()


def figure_packages() -> dict[str, str | None]:
    """Installed versions of the packages that move the figures (read from metadata; nothing is imported)."""
    from harness import MEASUREMENT_VERSION

    # the harness's own way of measuring moves the figures too (e.g. the sampler moved out of process)
    out: dict[str, str | None] = {"harness-measurement": MEASUREMENT_VERSION}
    for name in FIGURE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_sha256(path: str | Path) -> str:
    """sha256 of a data file; of the sorted (name, content) pairs for a folder; "missing" when absent."""
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
    """`<candidate>-r<rank>-<backend>-<quant>-<key[:12]>`, safe as a file name."""
    prefix = sanitize(f"{request.candidate.name}-r{request.lora.rank}-{request.backend}-{request.quant}")[:120]
    return f"{prefix}-{sanitize(key[:12])}"
