"""The phases of one run, in the order the run child goes through them.

This is the one list of phases: the run child times them, fault injection fakes them,
the report orders its columns by them and ARCHITECTURE.md documents them.

Groups say what a phase's figures mean to the team:
- USER_WORK: what the team will do with the model (fine-tune, answer). "Fits on" and the
  ranking's memory term use only these phases' peaks.
- SCORING: the harness's own quality pass (answer likelihoods over the whole vocabulary).
  It can be the largest phase; it is reported apart and never sets "fits on".
"""

from __future__ import annotations

from enum import Enum


class Phase(str, Enum):
    LOAD = "load"  # weights from disk to the device
    GENERATE_BASE = "generate_base"  # batched answers before fine-tuning (quality)
    LATENCY_BASE = "latency_base"  # one answer at a time before fine-tuning (the team's measurement)
    EVAL_BASE = "eval_base"  # answer-likelihood pass before fine-tuning (bits per character)
    LORA = "lora"  # adding the adapters (and k-bit preparation)
    TRAIN_SETUP = "train_setup"  # tokenising the data, building the trainer and optimizer
    TRAIN = "train"  # the fine-tune itself
    GENERATE_TUNED = "generate_tuned"
    LATENCY_TUNED = "latency_tuned"
    EVAL_TUNED = "eval_tuned"
    SCORE = "score"  # text metrics on the CPU

    def __str__(self) -> str:
        return self.value


PHASE_ORDER: tuple[str, ...] = tuple(p.value for p in Phase)
USER_WORK: tuple[str, ...] = (
    Phase.TRAIN.value,
    Phase.GENERATE_BASE.value,
    Phase.LATENCY_BASE.value,
    Phase.GENERATE_TUNED.value,
    Phase.LATENCY_TUNED.value,
)
TRAIN_PHASES: tuple[str, ...] = (Phase.TRAIN.value,)
GENERATE_PHASES: tuple[str, ...] = tuple(p for p in USER_WORK if p != Phase.TRAIN.value)
SCORING: tuple[str, ...] = (Phase.EVAL_BASE.value, Phase.EVAL_TUNED.value)


def phase_sort_key(name: str) -> tuple[int, str]:
    """Known phases in run order, unknown ones (from newer results) after them by name."""
    return (PHASE_ORDER.index(name), "") if name in PHASE_ORDER else (len(PHASE_ORDER), name)
