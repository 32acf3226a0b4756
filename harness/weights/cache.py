"""The harness's own cache folder ($HARNESS_CACHE, default ~/.cache/lora-harness): where converted and built
weights (and trained stand-in tokenizers) are kept, each entry built once under a lock and published whole."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    root = Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "lora-harness")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialise builders of one cache entry across processes (several GPUs, several sweeps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _publish(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.replace(tmp, final)


def save_entry(final: Path, *parts: Any, source: dict[str, Any] | None = None) -> None:
    """save_pretrained each part (model, tokenizer) into a temp folder beside `final`, then publish it whole."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    for part in parts:
        part.save_pretrained(tmp)
    if source is not None:
        (tmp / "harness-source.json").write_text(json.dumps(source))
    _publish(tmp, final)


def short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]
