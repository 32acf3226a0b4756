"""The run child: one process per run, the only side of the harness that imports torch.

`python -m harness.child.run --request REQ.json --result OUT.json --key KEY` loads, trains, answers and
scores one run under the monitor (`monitor.py`, `sampler.py`), and records its environment (`env.py`).
Nothing here imports `harness.sweep`, `harness.report` or the CLI: what both sides need sits in the
bottom-floor modules (`harness.keys`, `harness.caches`, `harness.child_env`, `harness.versions`).
"""
