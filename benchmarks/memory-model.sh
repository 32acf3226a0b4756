#!/usr/bin/env bash
# bash benchmarks/memory-model.sh          (CPU only; about a minute the first time, seconds after)
#
# Fits the memory model's coefficients from the published H100 runs and writes the validation tables:
#   harness/memory/coefficients.yaml       the fitted coefficients, with the runs they came from
#   reports/memory-model/README.md         the model, leave-one-out error tables, the team's T4 table
#   reports/memory-model/*.csv             the same tables as CSV
# Add later runs by naming their report folders (each with runs/*.json) after the default three.
# Needs the team's data file at the path the runs' requests name (relative to the project root): the runs'
# token counts are recomputed from it (see the README, "Token counts").
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ "$#" -eq 0 ]; then
  set -- reports/seed-study-h100-m2 reports/bench-gemma-2-2b-it-r16-h100 reports/sweep-failure-h100
fi
exec "$PY" -m harness.memory.fit --write "$@"
