"""Memory model: predicted peaks per phase from a model's config and a run's settings, and whether they fit.

    from harness.memory import Settings, predict, fits_on, fit_table
    pred = predict(config, Settings(rank=64, batch=4, seq_len=256, dtype="fp16"), gpu="T4")
    fits_on(pred, "T4")  # FitVerdict(fits, dtype, predicted_mib, capability_ok, reason, ...)

Modules: shape (counts from a meta-device build), activations (bytes counted from the autograd graph),
model (the terms), coefficients (fitted numbers and their source), gpus (the team's GPUs), verdict (fits
on), runs / fit / team / report (fitting, validation, the published tables), cli (`harness fits`).
"""

from harness.memory.gpus import GPU, GPUS, TEAM_GPUS
from harness.memory.model import PredictedPeak, Settings, Term, predict
from harness.memory.verdict import FitVerdict, fit_table, fits_on, largest

__all__ = ["GPU", "GPUS", "TEAM_GPUS", "FitVerdict", "PredictedPeak", "Settings", "Term", "fit_table", "fits_on",
           "largest", "predict"]  # fmt: skip
