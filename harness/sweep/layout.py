"""The results folder of one sweep, and reading it back.

    results/<sweep name>/
        manifest.json          spec, command, created/updated, GPU baseline, runs [{key, stem, label}], invocations
        runs/<stem>.json       one RunResult per run (atomic writes; a reader never sees half a file)
        runs/<stem>.json.corrupt   a result found corrupt, set aside before its run was redone
        attempts/<stem>-<n>.json   an earlier try of a run that is being redone (cancelled, failed and retried,
                               or --rerun), with attempts/<stem>-<n>.log: its time stays in the sweep's overhead
        logs/<stem>.log        the child's stdout + stderr, then one line from the sweep on how it ended
        adapters/<stem>/       an ok run's LoRA adapter (PEFT layout), when asked for (harness/adapters.py)
        scratch/<stem>/        the child's working folder: request.json, result.json (before it moves to runs/),
                               child.pid while it runs, and whatever the child writes to its CWD
        .sweep.lock            held (flock) while a sweep runs on this folder

Nothing here depends on a clean exit: the manifest is written before the
first run starts, each result as its run ends, and `collect_results` rebuilds
the table from the run files alone. Reading the files is `harness.results_folder`'s (the report reads
them through it too); this module writes them and words what the sweep says of them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from harness.atomic import atomic_write_text
from harness.errors import UserError
from harness.result import CorruptResult, RunResult
from harness.results_folder import ATTEMPTS_DIR, MANIFEST_FILE, RUNS_DIR, read_manifest, scan_runs
from harness.sweep.child import kill_group

MANIFEST_VERSION = 1


def sweep_dir_for(results_dir: Path, name: str) -> Path:
    """results_dir/<name>; results_dir itself when it already is that folder."""
    results_dir = Path(results_dir)
    return results_dir if results_dir.name == name else results_dir / name


class SweepDir:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()  # the child runs in scratch/, so every path it gets is absolute
        self.runs = self.root / RUNS_DIR
        self.logs = self.root / "logs"
        self.scratch = self.root / "scratch"
        self.manifest = self.root / MANIFEST_FILE

    def ensure(self) -> None:
        for d in (self.runs, self.logs, self.scratch):
            d.mkdir(parents=True, exist_ok=True)

    def run_path(self, stem: str) -> Path:
        return self.runs / f"{stem}.json"

    def attempts_dir(self) -> Path:
        return self.root / ATTEMPTS_DIR

    def log_path(self, stem: str) -> Path:
        return self.logs / f"{stem}.log"

    def scratch_dir(self, stem: str) -> Path:
        return self.scratch / stem

    # ------------------------------------------------------------ lock

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One sweep at a time per folder. The kernel drops the lock when the holder dies, even by SIGKILL."""
        path = self.root / ".sweep.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
                raise UserError(
                    f"another sweep is running on {self.root} (pid {holder}); wait for it to end or stop it first"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            yield
        finally:
            os.close(fd)

    # ------------------------------------------------------------ leftovers of a killed sweep

    def clean_stale_tmp(self) -> list[str]:
        """Remove temp files of writers that were killed mid-write (only call while holding the lock)."""
        removed = []
        for folder in (self.root, self.runs, *(p for p in self.scratch.glob("*") if p.is_dir())):
            for f in folder.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    f.unlink()
                    removed.append(str(f.relative_to(self.root)))
        return removed

    def write_pid(self, stem: str, pid: int, key: str) -> None:
        atomic_write_text(self.scratch_dir(stem) / "child.pid", json.dumps({"pid": pid, "key": key}))

    def clear_pid(self, stem: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.scratch_dir(stem) / "child.pid").unlink()

    def kill_orphans(self, grace_s: float = 3.0) -> list[str]:
        """Kill children left running by a sweep that was itself killed (their pid files are still there)."""
        notes = []
        for pid_file in self.scratch.glob("*/child.pid"):
            try:
                info = json.loads(pid_file.read_text())
                pid, key = int(info["pid"]), str(info["key"])
            except (OSError, ValueError, KeyError, TypeError):
                pid = key = None
            if pid is not None:
                try:
                    cmdline = psutil.Process(pid).cmdline()
                    leader = os.getpgid(pid) == pid
                except (psutil.Error, OSError):
                    cmdline, leader = [], False
                if key in cmdline and leader:
                    left = kill_group(pid, None, grace_s)
                    notes.append(
                        f"killed a child left running by an earlier sweep: pid {pid} ({pid_file.parent.name})"
                        + (f"; {left} process(es) survived" if left else "")
                    )
            with contextlib.suppress(OSError):
                pid_file.unlink()
        return notes

    # ------------------------------------------------------------ manifest

    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest; None when it is missing or unreadable."""
        return read_manifest(self.root)[0]

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.manifest, json.dumps(manifest, ensure_ascii=False, indent=1))

    # ------------------------------------------------------------ results

    def existing(self, stem: str, key: str) -> tuple[RunResult | None, str | None]:
        """(result, None) for a valid result of this key; (None, problem) for a corrupt or foreign one; (None, None)."""
        path = self.run_path(stem)
        if not path.exists():
            return None, None
        try:
            result = RunResult.read(path)
        except CorruptResult as e:
            return None, str(e)
        if result.key != key:
            return None, f"{path}: holds the result of another key ({result.key[:12]})"
        return result, None

    def set_aside(self, stem: str) -> Path | None:
        """Move a corrupt result out of the way (kept for inspection as <stem>.json.corrupt)."""
        path = self.run_path(stem)
        dest = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, dest)
        except OSError:
            return None
        return dest

    def keep_attempt(self, stem: str) -> Path | None:
        """Move a result about to be redone (and its log) to attempts/<stem>-<n>.json: the earlier try's phases
        and seconds stay on record (a resumed sweep's overhead counts them), and runs/ holds only the newest."""
        path = self.run_path(stem)
        if not path.exists():
            return None
        folder = self.attempts_dir()
        folder.mkdir(parents=True, exist_ok=True)
        n = 1
        while (folder / f"{stem}-{n}.json").exists():
            n += 1
        dest = folder / f"{stem}-{n}.json"
        try:
            os.replace(path, dest)
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.replace(self.log_path(stem), dest.with_suffix(".log"))
        return dest


class CollectedResults(list):
    """A list of RunResult, plus `warnings`: corrupt files skipped, stale files left out."""

    def __init__(self, items: list[RunResult] | None = None, warnings: list[str] | None = None) -> None:
        super().__init__(items or [])
        self.warnings: list[str] = warnings or []


def collect_results(results_dir: Path, *, manifest_only: bool = True) -> CollectedResults:
    """Read every run file of a sweep folder (the folder holding runs/, or runs/ itself).

    Corrupt files are skipped with a warning. With manifest_only (default) and a readable
    manifest.json, only the runs of the sweep's latest plan are returned, in plan order;
    files of earlier plans (other keys: changed request, packages, data or GPU) are left out
    with one warning. Without a manifest every valid file is returned, sorted by file name.
    """
    root = Path(results_dir)
    runs = root / RUNS_DIR
    if not runs.is_dir() and root.name == RUNS_DIR:
        runs, root = root, root.parent
    warnings: list[str] = []
    if not runs.is_dir():
        return CollectedResults([], [f"{root}: no runs/ folder"])
    order: dict[str, int] | None = None
    if manifest_only:
        manifest = SweepDir(root).read_manifest()
        if manifest is not None and isinstance(manifest.get("runs"), list):
            order = {r["key"]: i for i, r in enumerate(manifest["runs"]) if isinstance(r, dict) and "key" in r}
        elif (root / MANIFEST_FILE).exists():
            warnings.append(f"{root / MANIFEST_FILE}: unreadable; reading every run file")
    found: list[RunResult] = []
    stale = 0
    for f in scan_runs(runs, order):
        if f.kind == "corrupt":
            warnings.append(f"{f.error}; skipped")
        elif f.kind == "stale":
            stale += 1
        elif f.kind in ("run", "duplicate"):  # a second file of a key: named when misnamed, never listed twice
            assert f.result is not None
            if not f.path.stem.endswith(f.result.key[:12]):
                warnings.append(f"{f.path}: file name does not match its key {f.result.key[:12]}")
            if f.kind == "run":
                found.append(f.result)
        # warm-up runs: never reported (their time is in the manifest's invocation)
    if stale:
        warnings.append(f"{runs}: {stale} result file(s) of an earlier plan of this sweep left out (not in manifest)")
    if order is not None:
        found.sort(key=lambda r: order[r.key])
    return CollectedResults(found, warnings)
