"""One child process: start it in its own session, stream its output, enforce its timeout, leave nothing behind.

Used by the local executor and, on the worker, by the Ray executor. Knows
nothing of results: `ChildOutcome` says how the process ended, and
`harness.sweep.outcome` turns that into a RunResult.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil

from harness.child_env import PASS_ENV, child_command, child_env  # noqa: F401  (re-exported)
from harness.sweep.forkserver import ForkedProcess, ForkServer

PHASE_PREFIX = "HARNESS_PHASE "
FAULT_PREFIX = "HARNESS_FAULT fired "  # harness.faults.FIRED_PREFIX (not imported: the parent stays light)
TAIL_LINES = 20


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def signal_name(returncode: int | None) -> str | None:
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


@dataclass
class ChildOutcome:
    started_at: str
    finished_at: str
    wall_s: float
    pid: int
    returncode: int | None
    timed_out: bool = False
    cancelled: bool = False
    last_phase: str | None = None
    injected: str | None = None  # test-hook faults the child announced (HARNESS_FAULT fired ...), "; "-joined
    tail: list[str] = field(default_factory=list)
    leftovers: int = 0  # processes of its group still alive after the cleanup (should be 0)
    notes: list[str] = field(default_factory=list)

    @property
    def signal(self) -> str | None:
        return signal_name(self.returncode)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ChildOutcome:
        return cls(**d)


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    out = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                out.append(p.pid)
        except (ProcessLookupError, psutil.Error, OSError):
            continue
    return out


def kill_group(
    pgid: int,
    proc: subprocess.Popen | ForkedProcess | None,
    grace_s: float,
    hard: threading.Event | None = None,
) -> int:
    """SIGTERM the group, SIGKILL it after grace_s (or at once when `hard` is set); reap the leader.

    Returns how many processes were still alive after all that (0 when the group is gone).
    """

    def alive() -> bool:
        return (proc is not None and proc.poll() is None) or bool(group_members(pgid))

    if not alive():
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not (hard is not None and hard.is_set()):
        if not alive():
            return 0
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not alive():
            return 0
        time.sleep(0.05)
    return len(group_members(pgid)) + (1 if proc is not None and proc.poll() is None else 0)


class ChildProcess:
    """`python -m <module> --request ... --result ... --key ...` in a new session, cwd = a scratch folder."""

    def __init__(
        self,
        cmd: list[str],
        cwd: Path,
        env: dict[str, str],
        log_path: Path,
        on_phase: Callable[[str], None] | None = None,
        forkserver: ForkServer | None = None,
    ) -> None:
        self.cmd, self.cwd, self.env, self.log_path, self.on_phase = cmd, cwd, env, log_path, on_phase
        self.forkserver = forkserver  # fork the run from it (cmd is `python -m harness.child.run ...`)
        self.start_note: str | None = None  # why a fork fell back to a fresh interpreter
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.last_phase: str | None = None
        self.injected: list[str] = []
        self.proc: subprocess.Popen | ForkedProcess | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        self._t0 = time.monotonic()
        self._started_at = now_iso()
        if self.forkserver is not None:
            try:
                self.proc = self.forkserver.spawn(self.cmd[3:], self.cwd, {**self.env, "HARNESS_START": "fork"})
            except OSError as e:
                self.start_note = f"fork server unavailable ({e}); started a fresh interpreter"
                self.proc = None
        if self.proc is None:
            self.proc = self._popen()
        self._reader = threading.Thread(target=self._read, name=f"child-{self.proc.pid}-output", daemon=True)
        self._reader.start()

    def _popen(self) -> subprocess.Popen:
        return subprocess.Popen(
            self.cmd,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        pending = b""
        stream = self.proc.stdout
        try:
            while True:
                chunk = stream.read1(65536)
                if not chunk:
                    break
                self._log.write(chunk)
                self._log.flush()
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for raw in lines:
                    self._line(raw)
                if len(pending) > 65536:
                    self._line(pending)
                    pending = b""
        except (OSError, ValueError):
            pass
        if pending:
            self._line(pending)
        with contextlib.suppress(OSError):
            self._log.close()

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace")
        if "\r" in text:  # progress bars: keep the last state
            text = next((s for s in reversed(text.split("\r")) if s.strip()), "")
        text = text.rstrip()
        if text.startswith(FAULT_PREFIX):
            self.injected.append(text[len(FAULT_PREFIX) :].strip())
        if text.startswith(PHASE_PREFIX):
            name = text[len(PHASE_PREFIX) :].strip()
            self.last_phase = name
            if self.on_phase:
                with contextlib.suppress(Exception):
                    self.on_phase(name)
        if text:
            self.tail.append(text[:2000])

    def wait(
        self,
        timeout_s: float | None,
        grace_s: float,
        stop: threading.Event | None = None,
        hard: threading.Event | None = None,
    ) -> ChildOutcome:
        """Wait for the exit, the timeout or `stop`; always ends with the whole process group gone."""
        assert self.proc is not None
        deadline = None if timeout_s is None else self._t0 + timeout_s
        timed_out = cancelled = False
        try:
            while True:
                try:
                    self.proc.wait(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if stop is not None and stop.is_set():
                    cancelled = True
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    timed_out = True
                    break
        except BaseException:
            # KeyboardInterrupt (e.g. a Ray task cancelled): leave no process behind, then re-raise.
            kill_group(self.proc.pid, self.proc, min(grace_s, 2.0), hard)
            self._close()
            raise
        wall = time.monotonic() - self._t0
        leftovers = kill_group(self.proc.pid, self.proc, grace_s, hard)
        notes = [self.start_note] if self.start_note else []
        if leftovers:
            notes.append(f"{leftovers} process(es) of the run's group could not be killed")
        self._close()
        return ChildOutcome(
            started_at=self._started_at,
            finished_at=now_iso(),
            wall_s=round(wall, 3),
            pid=self.proc.pid,
            returncode=self.proc.returncode,
            timed_out=timed_out,
            cancelled=cancelled,
            last_phase=self.last_phase,
            injected="; ".join(dict.fromkeys(self.injected)) or None,
            tail=list(self.tail),
            leftovers=leftovers,
            notes=notes,
        )

    def _close(self) -> None:
        """Join the reader; it ends when every writer of the pipe is gone and closes the log itself."""
        if self._reader is not None:
            self._reader.join(timeout=5)
            if self._reader.is_alive():  # something outside the group still holds the pipe: leave it be
                return
        try:
            if self.proc is not None and self.proc.stdout is not None:
                self.proc.stdout.close()
        except OSError:
            pass
