"""Where a data path points: a file (relative to the current directory, else the project's folder), or a hub
data set `org/name[:split]`; the form a run request keeps; a file's sha256 (part of the run key)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UserError
from harness.project import project_root, source_root

REPO_ROOT = project_root()  # the source tree, or the installed package's copy (harness.config's REPO_ROOT)

HUB_REF = re.compile(r"(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?::(?P<split>[\w.%+\-\[\]:]+))?")
FILE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet", ".txt")  # a missing file, not a hub id


@dataclass(frozen=True)
class HubRef:
    repo: str
    split: str

    @property
    def text(self) -> str:
        return f"{self.repo}:{self.split}"


def resolve_data_path(path_str: str) -> Path:
    """Where a data path (from the command line or a spec) points.

    Absolute paths are taken as given. Relative paths resolve against the current directory; one
    that is not there is tried in the project's own folder (the source tree, or the installed
    package's copy), where the shipped specs' sample data (``data/...``) lives. When neither has
    it, the current directory's path is returned, so the error names where the user looked.
    """
    p = Path(path_str).expanduser()
    if p.is_absolute():
        return p
    here = (Path.cwd() / p).resolve()
    if here.exists():
        return here
    project = (REPO_ROOT / p).resolve()
    return project if project.exists() else here


def hub_ref(path_str: str) -> HubRef | None:
    """`org/name[:split]` when no local file or folder of that name exists (a local path always wins)."""
    text = path_str.strip()
    m = HUB_REF.fullmatch(text)
    if m is None or Path(m["repo"]).suffix.lower() in FILE_SUFFIXES or resolve_data_path(text).exists():
        return None
    return HubRef(m["repo"], m["split"] or "train")


def stored_data_path(path_str: str) -> str:
    """The form a run request keeps: the run's child starts in a scratch folder, so a path relative to
    the current directory would not reach the file there. A file in the project's folder, or beside a
    source tree (e.g. ``../shared/...``), keeps a path relative to the project (the form the shipped
    specs and earlier results use, so their run keys do not change); anything else becomes absolute."""
    if hub_ref(path_str) is not None:
        return path_str.strip()  # a hub data set: the child resolves it the same way
    path = resolve_data_path(path_str)
    try:
        rel = Path(os.path.relpath(path, REPO_ROOT))
    except ValueError:  # another drive (Windows)
        return str(path)
    ups = 0
    for part in rel.parts:
        if part != "..":
            break
        ups += 1
    if ups == 0 or (ups == 1 and source_root() is not None):
        return rel.as_posix()
    return str(path)


def file_sha256(path: Path) -> str:
    """sha256 of the file's bytes (part of the run key)."""
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except FileNotFoundError:
        raise UserError(f"{path}: data file not found; check --data (DATA=) or data.path in the spec") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a data file; point data.path at a file") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read the data file ({e.strerror}); check data.path") from None
    return h.hexdigest()
