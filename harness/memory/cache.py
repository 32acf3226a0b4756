"""A small on-disk cache for counts that need torch (meta builds, autograd counts), so a second `fits`
for the same model answers without importing torch. Keyed by the inputs and the library versions."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from harness.atomic import atomic_write_text

T = TypeVar("T")
LIBRARIES = ("torch", "transformers", "peft")


def versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for p in LIBRARIES:
        try:
            out.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            out.append(f"{p} -")
    return ", ".join(out)


def cache_dir() -> Path:
    root = Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "lora-harness")
    return root / "memory"


def cached(kind: str, key: Any, compute: Callable[[], T], cls: Callable[..., T]) -> T:
    """`compute()` once per (kind, key, library versions); later calls read it back as `cls(**saved)`."""
    digest = hashlib.sha256(json.dumps([kind, key, versions()], sort_keys=True, default=str).encode()).hexdigest()
    path = cache_dir() / f"{kind}-{digest[:16]}.json"
    if path.is_file():
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (TypeError, ValueError):
            pass  # an older layout: compute again
    value = compute()
    atomic_write_text(path, json.dumps(asdict(value), indent=1))  # type: ignore[call-overload]
    return value
