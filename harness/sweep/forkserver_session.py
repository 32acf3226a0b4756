"""The sweep's fork server, from start to stop: what killed sweeps left is cleaned first (`clean_stale`), the server
is started in a fresh `harness-fork-*` folder, and stopped with its folder when the sweep ends. The server itself
is harness/sweep/forkserver.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

from harness.sweep.child import child_env
from harness.sweep.forkserver import FOLDER_PREFIX, INFO_NAME, SERVER_MAIN, SOCKET_NAME, ForkServer
from harness.sweep.progress import Reporter

STALE_EMPTY_S = 60.0  # a folder with no server and no record: left by a sweep killed mid-start, once this old


@contextlib.contextmanager
def sweep_forkserver(reporter: Reporter, warnings: list[str]) -> Iterator[ForkServer | None]:
    """The sweep's fork server, stopped at the end; None (fresh interpreters) when it cannot start."""
    for note in clean_stale(Path(tempfile.gettempdir())):  # what killed sweeps left
        warnings.append(note)
        reporter.message(f"warning: {note}")
    # short: a Unix socket path has ~100 characters
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    server = ForkServer(folder, child_env(None))
    try:
        try:
            server.start()
        except OSError as e:
            note = f"{e}; every run starts a fresh interpreter"
            warnings.append(note)
            reporter.message(f"warning: {note}")
            yield None
            return
        reporter.message(f"fork server ready in {server.start_s:.1f} s (imports paid once, not per run)")
        yield server
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            folder.rmdir()


# ---------------------------------------------------------------- what killed sweeps left


def _alive(pid: int, started: float | None = None) -> bool:
    """A process with that pid runs (and, when `started` is given, it is the one that started then)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False


def _servers_of(folder: Path) -> list[psutil.Process]:
    """The fork servers serving from `folder` (a server's command line names its socket; its runs, forked from
    it, carry the same command line but are not the leaders of their process groups)."""
    sock = str(folder / SOCKET_NAME)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error, OSError):
            cmd = proc.info["cmdline"] or []
            if sock in cmd and SERVER_MAIN in cmd and os.getpgid(proc.pid) == proc.pid:
                found.append(proc)
    return found


def clean_stale(tempdir: Path, grace_s: float = 3.0) -> list[str]:
    """End the fork servers whose sweep is gone, and remove their `harness-fork-*` folders; one note each.

    A folder is stale when the sweep its record names is gone, or (no record: a harness from before servers
    ended with their sweep) when its server's parent is gone, or when it holds no server and is older than a
    minute. A live sweep's server is never touched."""
    notes = []
    for folder in sorted(Path(tempdir).glob(FOLDER_PREFIX + "*")):
        if not folder.is_dir():
            continue
        try:
            info = json.loads((folder / INFO_NAME).read_text(encoding="utf-8"))
            parent, started = int(info["parent"]), float(info["parent_started"])
        except (OSError, ValueError, KeyError, TypeError):
            parent, started = None, None
        servers = _servers_of(folder)
        if parent is not None:
            stale = not _alive(parent, started)
        elif servers:
            stale = all(s.ppid() in (0, 1) or not _alive(s.ppid()) for s in servers)
        else:
            try:
                stale = time.time() - folder.stat().st_mtime > STALE_EMPTY_S
            except OSError:
                stale = False
        if not stale:
            continue
        ended = []
        for server in servers:
            with contextlib.suppress(psutil.Error, OSError):
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(grace_s)
                except psutil.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                ended.append(str(server.pid))
        shutil.rmtree(folder, ignore_errors=True)
        notes.append(
            f"removed {folder}, left by a sweep that was killed"
            + (f"; ended its fork server (pid {', '.join(ended)})" if ended else "")
        )
    return notes
