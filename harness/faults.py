"""Fault injection for tests. Does nothing unless the environment has HARNESS_TEST_HOOKS=1.

The child (`harness.child.run`) calls `hit(point, label)` at fixed points:

    start              first thing, before any heavy import
    load               before the model loads
    step:N             before training step N (1-based)
    generate           before each generation stage
    write              just before the result file is written

`HARNESS_FAULTS` holds a comma-separated list of directives:

    directive := [SCOPE "~"] ACTION ["@" POINT]
    SCOPE     := text that must occur in the run's label (case-sensitive), e.g. "llama-tiny r32"
    ACTION    := oom          raise InjectedOOM ("CUDA out of memory ... (injected)"): the child records `oom`
               | segv         os.kill(self, SIGSEGV): dies without a result -> `crashed`, "killed by SIGSEGV"
               | kill         os.kill(self, SIGKILL)
               | hang         sleep forever (-> `timeout`, or `cancelled` on Ctrl-C)
               | exitN        os._exit(N), e.g. exit3
               | sleep:S      sleep S seconds, then go on
               | spawn        start a grandchild (a sleeping python) in the same process group, print its pid
               | ignoreterm   ignore SIGTERM from now on (the sweep must escalate to SIGKILL)
               | fake[:S]     not a fault: see `harness.child.fake`
    POINT     := start | load | step:N | generate | write   (default: start)

Examples:

    HARNESS_FAULTS="oom@step:2"                     every run: OOM before step 2
    HARNESS_FAULTS="fake:0.5,llama-tiny r32~segv@load"
                                                    fake runs of 0.5 s; the r32 run dies with SIGSEGV at load

A directive fires every time its point is reached in a matching run. At one
point, spawn and ignoreterm happen first, then the first matching fault fires.
A scope ending in a space avoids prefix clashes: "r1 ~segv" does not hit r16.

Fake runs: with HARNESS_TEST_HOOKS=1 and a `fake` directive that matches the run's
label, `harness.child.fake.fake_run` (called by the child before anything else) handles the run itself:
it prints the HARNESS_PHASE lines, passes the fault points (start, load, step:1..N,
generate, write; N = train.max_steps, at most 5, default 3), sleeps S seconds in all
and writes a minimal `ok` RunResult (reason "fake run (test hook)") - or an `oom`
result when an injected OOM fires. Like the real child it writes its result, marked
partial, after every phase (with the phase's wall time), so a fake run killed later
keeps its finished phases. It never imports torch. The scheduler's tests can run
`python -m harness.child.fake --request R --result O --key K` as the child.

Every performed directive is announced on stdout (`HARNESS_FAULT fired <directive>`)
before it acts, and recorded in the run's result (`RunResult.injected`): by the child
when it writes the result, by the sweep's parent (from that line) when it does.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass

HOOKS_VAR = "HARNESS_TEST_HOOKS"
FAULTS_VAR = "HARNESS_FAULTS"
ACTIONS = ("oom", "segv", "kill", "hang", "exit", "sleep", "spawn", "ignoreterm", "fake")


class InjectedOOM(RuntimeError):
    """An out-of-memory error raised on purpose; its message contains 'out of memory'."""


class FaultSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Directive:
    action: str  # one of ACTIONS
    point: str | None  # None for fake
    scope: str = ""  # substring of the run label; "" matches every run
    arg: float | None = None  # exit code, sleep seconds, fake duration

    def matches(self, label: str) -> bool:
        return not self.scope or self.scope in label

    @property
    def text(self) -> str:
        """The directive as written, e.g. 'r32 ~oom@step:1'."""
        name = self.action
        if self.arg is not None:
            name += str(int(self.arg)) if self.action == "exit" else f":{self.arg:g}"
        return (f"{self.scope}~" if self.scope else "") + name + (f"@{self.point}" if self.point else "")


FIRED_PREFIX = "HARNESS_FAULT fired "  # a line on stdout: the sweep's parent marks the run's result injected
_fired: list[str] = []  # directives performed in this process


def fired() -> str | None:
    """The directives performed in this process so far ('; '-joined), or None: what the result marks injected."""
    return "; ".join(dict.fromkeys(_fired)) or None


def reset() -> None:
    """Forget what fired: a run starts clean (tests run several in one process)."""
    _fired.clear()


def enabled() -> bool:
    return os.environ.get(HOOKS_VAR) == "1"


def parse(text: str) -> list[Directive]:
    """Parse a HARNESS_FAULTS value; raises FaultSyntaxError naming the bad directive."""
    out = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        scope, _, body = item.rpartition("~")
        action_part, _, point = body.partition("@")
        action_part, point = action_part.strip(), point.strip()
        name, _, arg_text = action_part.partition(":")
        arg: float | None = None
        if name.startswith("exit") and name != "exit" and not arg_text:
            name, arg_text = "exit", name[4:]
        try:
            if arg_text:
                arg = float(arg_text)
        except ValueError:
            raise FaultSyntaxError(f"{FAULTS_VAR}: bad number in '{item}'") from None
        if name not in ACTIONS:
            raise FaultSyntaxError(f"{FAULTS_VAR}: unknown action '{name}' in '{item}' (known: {', '.join(ACTIONS)})")
        if name == "exit" and (arg is None or arg != int(arg)):
            raise FaultSyntaxError(f"{FAULTS_VAR}: '{item}': exit needs an integer code, e.g. exit3")
        if name == "sleep" and arg is None:
            raise FaultSyntaxError(f"{FAULTS_VAR}: '{item}': sleep needs seconds, e.g. sleep:2@load")
        if name == "fake":
            if point:
                raise FaultSyntaxError(f"{FAULTS_VAR}: '{item}': fake takes no @point")
            out.append(Directive("fake", None, scope, arg))
            continue
        out.append(Directive(name, point or "start", scope, arg))
    return out


def directives() -> list[Directive]:
    if not enabled():
        return []
    return parse(os.environ.get(FAULTS_VAR, ""))


def hit(point: str, run_label: str = "") -> None:
    """Perform the first fault configured for this point and run; no-op unless HARNESS_TEST_HOOKS=1."""
    if not enabled():
        return
    for d in directives():
        if d.action in ("spawn", "ignoreterm") and d.point == point and d.matches(run_label):
            _perform(d, point)  # side effects, then look for a fault at the same point
    for d in directives():
        if d.action not in ("fake", "spawn", "ignoreterm") and d.point == point and d.matches(run_label):
            _perform(d, point)
            return


def _perform(d: Directive, point: str) -> None:
    _fired.append(d.text)
    print(f"{FIRED_PREFIX}{d.text}", flush=True)  # before the fault: a killed child still says it was injected
    sys.stdout.flush()
    sys.stderr.flush()
    if d.action == "oom":
        raise InjectedOOM(f"CUDA out of memory. Tried to allocate 20.00 MiB (injected at {point})")
    if d.action == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)  # the signal is delivered asynchronously
    elif d.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
    elif d.action == "hang":
        while True:
            time.sleep(3600)
    elif d.action == "exit":
        os._exit(int(d.arg or 0))
    elif d.action == "sleep":
        time.sleep(float(d.arg or 0))
    elif d.action == "spawn":
        import subprocess

        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL)
        print(f"HARNESS_FAULT spawned pid {p.pid}", flush=True)
    elif d.action == "ignoreterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def fake_directive(run_label: str) -> Directive | None:
    if not enabled():
        return None
    return next((d for d in directives() if d.action == "fake" and d.matches(run_label)), None)
