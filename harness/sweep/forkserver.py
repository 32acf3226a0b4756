"""A fork server: one process that has imported torch, transformers, peft and trl, and forks each run from it.

    python -c "from harness.sweep.forkserver import main; main()" --socket PATH   # the sweep starts it

Every run still gets a fresh process of its own (its own CUDA context, allocator and patches):
the server never touches CUDA (it imports with PYTORCH_NVML_BASED_CUDA_CHECK=1 and checks that
CUDA is not initialised before it serves), so each forked child initialises CUDA itself, as a
freshly started interpreter would. What the fork saves is the interpreter start and the imports
(about 6 s a run on a 2-core CPU), which no figure of the run includes.

A backend that must patch libraries before they are imported (`Backend.forkable` False) gets a freshly
started interpreter as before. What the server imports is the union of the forkable backends' `preloads`,
with torch first and the run child's own modules last; what it must never import, each backend's
`never_preload` beside the common libraries below.

Protocol (a Unix socket, one connection a run): the client sends one JSON line
{"argv": [...], "cwd": ..., "env": {...}} with the write end of its output pipe attached
(SCM_RIGHTS); the server forks, the child starts a new session (so the sweep can kill its process
group), points stdout and stderr at the pipe and runs `harness.child.run.main(argv)`. The server answers
{"pid": N}, then {"returncode": R} when the child has ended (negative: killed by that signal).

The server ends with the sweep that started it, however the sweep ends (kill -9 included): on Linux the
kernel sends it SIGTERM when its parent dies (PR_SET_PDEATHSIG), and on any system it exits when its stdin,
a pipe whose only write end the sweep holds, reaches end of file. Either way it removes its socket and its
`harness-fork-*` folder. A sweep that starts removes the folders, and ends the servers, that sweeps killed
before this was so left behind (`forkserver_session.clean_stale`).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import psutil

from harness import backends

# Not peft, nor trl's trainer (which imports peft): with bitsandbytes or torchao installed, importing peft
# imports them, and they ask CUDA for the device's capability, which initialises CUDA in the server (seen on
# the H100). Each run imports those itself, after its fork.
# (transformers' TrainerCallback, and so harness.child.train, import peft too.)
PRELOAD = ("torch", *backends.preloads(), "harness.child.run", "harness.child.generate")
NEVER_PRELOAD = ("peft", "bitsandbytes", "torchao", *backends.never_preload())
START_TIMEOUT_S = 180.0  # imports on a cold disk can take a while
# `-c`, not `-m`: the sweep package imports this module already, and runpy warns about running it twice
SERVER_MAIN = "import sys; from harness.sweep.forkserver import main; sys.exit(main(sys.argv[1:]))"
FOLDER_PREFIX = "harness-fork-"  # the sweep's tempfile.mkdtemp prefix
SOCKET_NAME = "forkserver.sock"
INFO_NAME = "server.json"  # {"server": pid, "parent": pid, "parent_started": epoch s}: read by `clean_stale`
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


# ---------------------------------------------------------------- server side


def _preload(modules: Sequence[str] = PRELOAD) -> None:
    import importlib

    for name in modules:
        importlib.import_module(name)
    if "torch" not in modules:  # a server for the tests of its own life: nothing heavy to touch
        return
    # Touch the heavy lazy modules too, so the children do not pay for them.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    if torch.cuda.is_initialized():  # a forked child could not use CUDA: refuse to serve
        raise RuntimeError("CUDA was initialised while preloading; the fork server cannot be used")


def _remove_folder(path: Path) -> None:
    """The server's socket, the sweep's record of it, and their folder (only when nothing else is in it)."""
    for f in (path, path.parent / INFO_NAME):
        with contextlib.suppress(OSError):
            f.unlink()
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _die_with_parent(path: Path, parent: int | None) -> None:
    """End the server (and remove its folder) when the sweep that started it dies, however it dies."""
    me = os.getpid()

    def end(signum: int = 0, frame: Any = None) -> None:
        if os.getpid() != me:  # a run forked a moment ago, before it reset its handlers: die as it would
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        _remove_folder(path)
        os._exit(0)

    signal.signal(signal.SIGTERM, end)
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # the kernel's word, at once, when the parent dies
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # it died before the request above was made
        end()

    def watch_stdin() -> None:  # the sweep holds the only write end: end of file means it is gone
        with contextlib.suppress(OSError, ValueError):
            while os.read(0, 4096):
                pass
        end()

    threading.Thread(target=watch_stdin, name="parent-watch", daemon=True).start()


def _child(conn: socket.socket, listener: socket.socket, req: dict[str, Any], out_fd: int) -> None:
    """In the forked child: become the run, then exit with its code. Never returns."""
    code = 1
    try:
        os.setsid()
        listener.close()
        conn.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = ["harness.child.run", *req["argv"]]
        import harness.child.run as run_mod

        run_mod.T_START = time.perf_counter()  # the run's clock starts at its fork, not at the server's import
        code = run_mod.main(req["argv"])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _serve_one(conn: socket.socket, listener: socket.socket) -> None:
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 1)
    if not fds:
        conn.close()
        return
    req = json.loads(msg.decode("utf-8"))
    pid = os.fork()
    if pid == 0:
        _child(conn, listener, req, fds[0])
    os.close(fds[0])
    _send(conn, {"pid": pid})

    def reap() -> None:
        _, status = os.waitpid(pid, 0)
        with contextlib.suppress(OSError):
            _send(conn, {"returncode": os.waitstatus_to_exitcode(status)})
        conn.close()

    threading.Thread(target=reap, daemon=True).start()


def _send(conn: socket.socket, obj: dict[str, Any]) -> None:
    conn.sendall((json.dumps(obj) + "\n").encode("utf-8"))


def serve(path: Path, parent: int | None = None, preload: Sequence[str] = PRELOAD) -> None:
    _die_with_parent(path, parent)  # first: the imports below take seconds, and the sweep may die meanwhile
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # is_available() through NVML: no CUDA init before fork
    _preload(preload)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            _serve_one(conn, listener)
        except Exception as e:  # one bad request must not take the server down
            print(f"fork server: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
            with contextlib.suppress(OSError):
                conn.close()


# ---------------------------------------------------------------- client side


class ForkedProcess:
    """The parts of `subprocess.Popen` the sweep uses, for a run forked by the server."""

    def __init__(self, conn: socket.socket, stdout: IO[bytes]) -> None:
        self._conn = conn
        self._file = conn.makefile("rb")
        self.stdout = stdout
        first = json.loads(self._file.readline() or b"{}")
        if "pid" not in first:
            raise OSError("the fork server did not start the run")
        self.pid: int = first["pid"]
        self.returncode: int | None = None
        self._done = threading.Event()
        threading.Thread(target=self._wait_reply, daemon=True).start()

    def _wait_reply(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            line = self._file.readline()
            if line:
                self.returncode = json.loads(line)["returncode"]
        if self.returncode is None:  # the server died: the run is lost with it
            self.returncode = -int(signal.SIGKILL)
        self._done.set()
        with contextlib.suppress(OSError):
            self._conn.close()

    def poll(self) -> int | None:
        return self.returncode if self._done.is_set() else None

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(["forked run", str(self.pid)], timeout or 0)
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """Starts the server process once, forks runs from it, and stops it at the end of the sweep."""

    def __init__(self, folder: Path, env: dict[str, str], preload: Sequence[str] = PRELOAD) -> None:
        self.path = folder / SOCKET_NAME
        self.env = env
        self.preload = tuple(preload)
        self.proc: subprocess.Popen | None = None
        self.start_s: float | None = None  # one-time cost of the server's imports

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        t0 = time.monotonic()
        args = ["--socket", str(self.path), "--parent", str(os.getpid()), "--preload", ",".join(self.preload)]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_MAIN, *args],
            env=self.env,
            stdin=subprocess.PIPE,  # never written: its end of file tells the server that the sweep is gone
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        me = psutil.Process()
        info = {"server": self.proc.pid, "parent": me.pid, "parent_started": me.create_time()}
        with contextlib.suppress(OSError):
            (self.path.parent / INFO_NAME).write_text(json.dumps(info), encoding="utf-8")
        ready = _readline_within(self.proc.stdout, START_TIMEOUT_S)
        if ready.strip() != b"ready":
            self.stop()
            raise OSError("the fork server did not start (see the sweep's stderr)")
        self.start_s = time.monotonic() - t0

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> ForkedProcess:
        """Fork one run; `argv` are harness.child.run's arguments. Raises OSError when the server is gone."""
        if self.proc is None or self.proc.poll() is not None:
            raise OSError("the fork server is not running")
        read_fd, write_fd = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.path))
            msg = json.dumps({"argv": argv, "cwd": str(cwd), "env": env}).encode("utf-8")
            socket.send_fds(conn, [msg], [write_fd])
        except OSError:
            conn.close()
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return ForkedProcess(conn, os.fdopen(read_fd, "rb"))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        for f in (self.path, self.path.parent / INFO_NAME):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()


def _readline_within(stream: IO[bytes], timeout_s: float) -> bytes:
    box: list[bytes] = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else b""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sweep.forkserver", description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, type=Path)
    ap.add_argument("--parent", type=int, help="the sweep's pid: the server ends when it does")
    ap.add_argument("--preload", default=",".join(PRELOAD), help="modules to import before serving, comma-separated")
    args = ap.parse_args(argv)
    serve(args.socket, args.parent, tuple(m for m in args.preload.split(",") if m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
