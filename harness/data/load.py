"""A run's data (`DataSettings`) loaded: a local file through the format registry, or a hub data set (fetched,
its commit resolved, its rows read once per process)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from harness.data.examples import Example
from harness.data.formats import FORMATS, load_examples
from harness.data.hub_fetch import fetch_dataset
from harness.data.hub_rows import hub_examples, read_hub_rows
from harness.data.paths import file_sha256, hub_ref, resolve_data_path
from harness.errors import UserError


@dataclass(frozen=True)
class Loaded:
    examples: list[Example]
    where: str  # what error messages name: the file, or org/name:split
    data_id: str  # the file's sha256, or that of org/name:split@commit (names a stand-in tokenizer trained on it)
    revision: str | None = None  # a hub data set's commit sha


_HUB_LOADS: dict[tuple[str, str, str, str], list[Example]] = {}


def load_data(d: Any) -> Loaded:
    """A run's data (`DataSettings`): a local file, or a hub data set (fetched, its commit resolved)."""
    ref = hub_ref(d.path)
    if ref is None:
        path = resolve_data_path(d.path)
        if d.columns:
            raise UserError(
                f"{path}: data.columns (--data-columns) maps a hub data set's columns; a local file's follow its "
                f"format ({', '.join(FORMATS[1:])}); drop the mapping or fix the path"
            )
        return Loaded(load_examples(path, d.format), str(path), file_sha256(path))
    folder, sha = fetch_dataset(ref.repo, d.revision, ref.text)
    mapping = dict(d.columns or {})
    key = (ref.repo, ref.split, sha, json.dumps([d.format, mapping], sort_keys=True))
    if key not in _HUB_LOADS:
        _HUB_LOADS[key] = hub_examples(read_hub_rows(folder, ref), ref.text, d.format, mapping)
    data_id = hashlib.sha256(f"{ref.text}@{sha}".encode()).hexdigest()
    return Loaded(_HUB_LOADS[key], ref.text, data_id, sha)
