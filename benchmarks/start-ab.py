"""Does forking a run from the fork server change its figures? Runs of one cell started both ways, compared.

    python benchmarks/start-ab.py results/start-ab      # after `bash benchmarks/gpu-session.sh startab`
    python benchmarks/start-ab.py --probe 6             # the same question on the CPU alone, no GPU, ~1 minute
    python benchmarks/start-ab.py results/sampler-ab --sides ms5 ms50   # after `gpu-session.sh samplerab`

Why: issue "The sweep at the speed of its work" asks that the fork server leave a run's figures as a
fresh interpreter would measure them. On the H200, one fresh run of the seed study's gemma-2-2b-it r16
stepped at 0.204 s against 0.264 and 0.291 s for forked runs of that cell (one of them on the same
machine, minutes later), and answered one prompt in 2.9 s against 3.9-4.2 s; on the H100, forked gemma
runs were 10-30% slower than the earlier fresh ones, other models not. One pair cannot tell that from
the run-to-run spread (repeats of one forked cell there: 0.120-0.172 s a step). So the `startab` part
alternates the two starts (ABBA) over repeats of one cell, each start mode in its own results folder,
and this script sets them side by side.

--probe N asks it without the harness or a GPU: a tiny llama (built from a config, one CPU thread) trains
200 steps in a freshly started interpreter and in a child forked from this process after it imported
torch and transformers (as the fork server does), N times each way, alternating; medians of the step time.
If forked children are slower at Python-heavy torch work on a machine, this shows it there.

`--sides ms5 ms50` compares the sampler's period instead (issue 28: does sampling every 5 ms slow the
one-at-a-time answers, which are launch-bound, against every 50 ms?): each side's runs must have recorded
HARNESS_SAMPLER_MS at that value.

Reads FOLDER/{fresh,fork}/*/runs/*.json (ok runs, no warm-ups). Prints one row per run, then per mode the
mean steady step, one-at-a-time answer, one-time costs and train peak, and fork/fresh ratios with a 95%
bootstrap interval over runs. A ratio whose interval holds 1.0 is "no difference measured"; the settings
each run recorded (`effective`) must be the same in both modes, or the comparison is void.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import mean

import numpy as np

from harness.quality.bootstrap import resampled_means

FIGURES = {  # name -> how to read it from a run file
    "steady s/step": lambda d: d["steps"]["steady_mean_s"],
    "burn-in s (5 steps)": lambda d: d["steps"]["burn_in_s"],
    "answer s (one at a time)": lambda d: next(
        g["latency_s_per_answer"] for g in d["generation"] if g["stage"] == "tuned"
    ),
    "start-up before load s": lambda d: d["one_time"].get("before_load_s"),
    "train phase s": lambda d: d["phases"]["train"]["wall_s"],
    "train NVML process peak MiB": lambda d: d["phases"]["train"]["nvml_process_peak_mib"],
}


def load(folder: Path) -> list[dict]:
    runs = []
    for f in sorted(folder.glob("*/runs/*.json")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            print(f"{f}: skipped, not a readable run file ({e})", file=sys.stderr)
            continue
        if d.get("status") == "ok" and not (d.get("request") or {}).get("warmup"):
            runs.append(d)
    return runs


def started(d: dict) -> str:
    """How the run's process started: forked runs carry HARNESS_START=fork in their recorded environment."""
    return ((d.get("environment") or {}).get("env_vars") or {}).get("HARNESS_START", "fresh")


def side_of(d: dict, side: str) -> str:
    """What a run file says about the side it belongs to: its start, or its sampler period as msN."""
    if side in ("fresh", "fork"):
        return started(d)
    ms = ((d.get("environment") or {}).get("env_vars") or {}).get("HARNESS_SAMPLER_MS")
    return f"ms{ms}" if ms else "ms(default)"


def figure(d: dict, name: str) -> float | None:
    """One figure of a run file; None where the run has none (an older schema, a stage not run)."""
    try:
        return FIGURES[name](d)
    except (KeyError, TypeError, StopIteration):
        return None


def ratio_ci(a: list[float], b: list[float], n: int = 4000) -> tuple[float, float, float]:
    """mean(a) / mean(b), with a 95% bootstrap interval resampling the runs of each side."""
    ra = resampled_means(np.array(a, dtype=float), n, seed=0)
    rb = resampled_means(np.array(b, dtype=float), n, seed=1)
    lo, hi = np.percentile(ra / rb, [2.5, 97.5])
    return float(mean(a) / mean(b)), float(lo), float(hi)


def probe_steps(steps: int = 200) -> float:
    """Median step time of a tiny llama's CPU training loop: Python and dispatch bound, like launch-bound GPU work."""
    import time

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=8,
                      num_attention_heads=4, num_key_value_heads=4)  # fmt: skip
    model = LlamaForCausalLM(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (2, 16))
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
        times.append(time.perf_counter() - t0)
    return float(np.median(times[20:]))


def probe(rounds: int) -> int:
    import os
    import subprocess

    import torch  # noqa: F401  (imported before the forks, as the fork server does)
    import transformers  # noqa: F401

    out: dict[str, list[float]] = {"fresh": [], "fork": []}
    for r in range(rounds):
        for mode in ("fresh", "fork") if r % 2 == 0 else ("fork", "fresh"):
            if mode == "fresh":
                cmd = [sys.executable, __file__, "--probe-one"]
                out[mode].append(float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
            else:
                rd, wr = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(rd)
                    os.write(wr, json.dumps(probe_steps()).encode())
                    os._exit(0)
                os.close(wr)
                with os.fdopen(rd) as f:
                    out[mode].append(float(f.read()))
                os.waitpid(pid, 0)
    for mode, v in out.items():
        print(
            f"probe {mode:<5} median step {np.median(v) * 1e3:.2f} ms  (each: {', '.join(f'{x * 1e3:.2f}' for x in v)})"
        )
    r, lo, hi = ratio_ci(out["fork"], out["fresh"])
    print(f"probe fork/fresh {r:.3f} [{lo:.3f}, {hi:.3f}]")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path, nargs="?", help="holds fresh/ and fork/ results roots (or --sides A B)")
    ap.add_argument(
        "--sides",
        nargs=2,
        default=["fresh", "fork"],
        metavar=("A", "B"),
        help="the two subfolders, the ratio is B/A: fresh fork (default), or ms5 ms50 (sampler period)",
    )
    ap.add_argument("--probe", type=int, metavar="N", help="the CPU probe instead: N fresh and N forked loops")
    ap.add_argument("--probe-one", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.probe_one:
        print(probe_steps())
        return 0
    if a.probe:
        return probe(a.probe)
    if a.folder is None:
        ap.error("give a folder, or --probe N")
    first, second = a.sides
    modes = {m: load(a.folder / m) for m in (first, second)}
    if not all(modes.values()):
        print(f"{a.folder}: need ok runs under both {first}/ and {second}/ (found "
              f"{', '.join(f'{m} {len(r)}' for m, r in modes.items())})", file=sys.stderr)  # fmt: skip
        return 2
    for m, runs in modes.items():  # a sweep whose fork server could not start ran fresh interpreters instead
        wrong = [d["label"] for d in runs if side_of(d, m) != m]
        if wrong:
            print(f"{a.folder / m}: {len(wrong)} run(s) did not run as '{m}' (each run records its start and sampler)",
                  file=sys.stderr)  # fmt: skip
            return 2
    settings = {json.dumps(d["effective"], sort_keys=True) for runs in modes.values() for d in runs}
    labels = {d["label"] for runs in modes.values() for d in runs}
    print(f"cell: {', '.join(sorted(labels))}; recorded settings identical in all runs: {len(settings) == 1}")
    for m, runs in modes.items():  # a fork inherits its server's threads and affinity; a fresh start sets its own
        cpu = {json.dumps((d.get("environment") or {}).get("cpu_threads") or {}, sort_keys=True) for d in runs}
        print(f"{m} runs' CPU side (usable CPUs, torch threads): {'; '.join(sorted(cpu))}")
    print(f"{'mode':<6} {'repeat':>6} {'started':<20} " + " ".join(f"{k[:14]:>14}" for k in FIGURES))
    for m, runs in modes.items():
        for d in sorted(runs, key=lambda d: d["started_at"]):
            vals = " ".join(f"{v:>14.3f}" if (v := figure(d, k)) is not None else f"{'-':>14}" for k in FIGURES)
            print(f"{m:<6} {d['request'].get('repeat', 0) + 1:>6} {d['started_at'][:19]:<20} {vals}")
    print()
    for k in FIGURES:
        va, vb = ([v for d in modes[m] if (v := figure(d, k)) is not None] for m in (first, second))
        if not va or not vb:
            continue
        r, lo, hi = ratio_ci(vb, va)
        if min(len(va), len(vb)) < 2:
            verdict = "one run on a side: no interval, no verdict"
        else:
            verdict = (
                "no difference measured" if lo <= 1.0 <= hi else (f"{second} higher" if lo > 1 else f"{second} lower")
            )
        print(
            f"{k:<30} {first} {mean(va):.3f}  {second} {mean(vb):.3f}  {second}/{first} {r:.3f} [{lo:.3f}, {hi:.3f}]"
            f"  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
