"""LoRA fine-tuning model-selection harness.

make bench                                  # embedded default (SmolLM2-135M) on this machine
make bench MODEL=gemma-2-2b-it WEIGHTS=shape RANKS="16 32 64"
python -m harness --help
"""

__version__ = "0.1.0"
