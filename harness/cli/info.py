"""`list` (the candidates as a table) and `selfbench` (the harness measuring itself)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import backends
from harness.config import CANDIDATES_FILE, load_candidates


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    cands = load_candidates(CANDIDATES_FILE)
    t = Table(title=f"candidates ({CANDIDATES_FILE.name})")
    columns = [b for b in backends.REGISTRY.values() if b.candidate_column]  # a backend's own fact per candidate
    for col in ("name", "hub id", "params", "Ko-LLM avg", "family", "license", "weights",
                *(b.candidate_column for b in columns)):  # fmt: skip
        t.add_column(col)
    for c in cands.candidates:
        t.add_row(
            c.name, c.hub_id, f"{c.params_b:.2f} B", "-" if c.ko_llm_avg is None else f"{c.ko_llm_avg:.2f}",
            c.family, c.license, c.weights, *(b.candidate_fact(c) for b in columns),
        )  # fmt: skip
    Console().print(t)
    print("--model also takes a hub id (org/name) or a local model folder; --candidates FILE a list of your own")
    return 0


def cmd_selfbench(args: argparse.Namespace) -> int:
    from harness.selfbench import main as selfbench_main

    return selfbench_main(Path(args.out))
