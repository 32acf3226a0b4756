"""A fork server: one process that has imported torch, transformers, peft and trl, and forks each run from it.

    python -c "from harness.sweep.forkserver import main; main()" --socket PATH   # the sweep starts it

Every run still gets a fresh process of its own (its own CUDA context, allocator and patches):
the server never touches CUDA (it imports with PYTORCH_NVML_BASED_CUDA_CHECK=1 and checks that
CUDA is not initialised before it serves), so each forked child initialises CUDA itself, as a
freshly started interpreter would. What the fork saves is the interpreter start and the imports
(about 6 s a run on a 2-core CPU), which no figure of the run includes.

A backend that must patch libraries before they are imported (Unsloth: `Backend.forkable` False)
gets a freshly started interpreter as before.

Protocol (a Unix socket, one connection a run): the client sends one JSON line
{"argv": [...], "cwd": ..., "env": {...}} with the write end of its output pipe attached
(SCM_RIGHTS); the server forks, the child starts a new session (so the sweep can kill its process
group), points stdout and stderr at the pipe and runs `harness.run.main(argv)`. The server answers
{"pid": N}, then {"returncode": R} when the child has ended (negative: killed by that signal).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

# Not peft, nor trl's trainer (which imports peft): with bitsandbytes or torchao installed, importing peft
# imports them, and they ask CUDA for the device's capability, which initialises CUDA in the server (seen on
# the H100). Each run imports those itself, after its fork.
# (transformers' TrainerCallback, and so harness.train, import peft too.)
PRELOAD = ("torch", "transformers", "datasets", "accelerate", "harness.run", "harness.generate")
NEVER_PRELOAD = ("peft", "bitsandbytes", "torchao", "unsloth", "liger_kernel")
START_TIMEOUT_S = 180.0  # imports on a cold disk can take a while
# `-c`, not `-m`: the sweep package imports this module already, and runpy warns about running it twice
SERVER_MAIN = "import sys; from harness.sweep.forkserver import main; sys.exit(main(sys.argv[1:]))"


# ---------------------------------------------------------------- server side


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    # Touch the heavy lazy modules too, so the children do not pay for them.
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    if torch.cuda.is_initialized():  # a forked child could not use CUDA: refuse to serve
        raise RuntimeError("CUDA was initialised while preloading; the fork server cannot be used")


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
        sys.argv = ["harness.run", *req["argv"]]
        import harness.run as run_mod

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


def serve(path: Path) -> None:
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # is_available() through NVML: no CUDA init before fork
    _preload()
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

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.path = folder / "forkserver.sock"
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.start_s: float | None = None  # one-time cost of the server's imports

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_MAIN, "--socket", str(self.path)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        ready = _readline_within(self.proc.stdout, START_TIMEOUT_S)
        if ready.strip() != b"ready":
            self.stop()
            raise OSError("the fork server did not start (see the sweep's stderr)")
        self.start_s = time.monotonic() - t0

    def spawn(self, argv: list[str], cwd: Path, env: dict[str, str]) -> ForkedProcess:
        """Fork one run; `argv` are harness.run's arguments. Raises OSError when the server is gone."""
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
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _readline_within(stream: IO[bytes], timeout_s: float) -> bytes:
    box: list[bytes] = []
    t = threading.Thread(target=lambda: box.append(stream.readline()), daemon=True)
    t.start()
    t.join(timeout_s)
    return box[0] if box else b""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.sweep.forkserver", description=__doc__.splitlines()[0])
    ap.add_argument("--socket", required=True, type=Path)
    serve(ap.parse_args(argv).socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
