"""LoRA fine-tuning model-selection harness.

make bench                                  # embedded default (SmolLM2-135M) on this machine
make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS="16 32 64"
python -m harness --help
"""

__version__ = "0.2.0"

# Bumped whenever a change moves measured figures (part of every run key, so old results are not mixed in).
# 2: the memory/power sampler runs in its own process (a thread took the GIL from launch-bound work).
# 3: burn-in at the timed batch, latency as its own stage, energy from NVML's counter, shape mode without the
#    scoring passes, shape-build memory released before the load phase, runs forked from a fork server.
# 4: the latency stage burns in once (its longest prompt), not once per prompt.
MEASUREMENT_VERSION = "4"
