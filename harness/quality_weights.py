"""The composite quality score's weights and formula: defaults, and a spec's overrides checked.

Bottom floor (imports only `errors`): the sweep spec validates `quality_weights` with it when it loads, and
`harness.quality.score` computes the composite with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.errors import UserError

# Each weight multiplies one term in 0..1 (higher is better). They need not sum to 1: the formula
# divides by their sum. A sweep spec (`quality_weights`) overrides any of them; 0 drops a term.
DEFAULT_WEIGHTS: dict[str, float] = {
    # chrF++ / 100: closeness to the persona's reference answer in wording and style; character
    # n-grams tolerate Korean particles and spacing. The main signal of a persona fine-tune.
    "chrf": 0.35,
    # contains: the reference's key phrase (the fact or catch-phrase) is in the answer, whatever
    # the wording around it. Content, where chrF++ is mostly form.
    "contains": 0.20,
    # hangul_ratio: the persona speaks Korean; small base models drift into English or Chinese.
    "hangul": 0.15,
    # 1 - repetition: loops ("좋아 좋아 좋아 ...") are the commonest failure of small tuned models.
    "clean": 0.15,
    # 1 - truncated: an answer cut off at max_new_tokens did not learn to stop (rambling, no EOS).
    "complete": 0.15,
    # distinct2: lexical variety; overlaps with `clean`, so off by default.
    "distinct": 0.0,
    # 2^-bits_per_char (geometric-mean probability per character of the reference): the model's fit
    # to the reference text, not the answer it wrote. Reported on its own as bits_per_char; off by default.
    "likelihood": 0.0,
}

COMPOSITE_FORMULA = (
    "composite = 100 × (1 − empty) × (w_chrf·chrF++/100 + w_contains·contains + w_hangul·hangul_ratio"
    " + w_clean·(1 − repetition) + w_complete·(1 − truncated) + w_distinct·distinct2"
    " + w_likelihood·2^(−bits_per_char)) / Σw, per answer, averaged over prompts (95% bootstrap CI);"
    " an empty answer scores 0; a term that is undefined for an answer (hangul_ratio of an answer without"
    " letters) is left out and Σw taken over the others; answers without a reference get no composite."
)


def resolve_weights(weights: Mapping[str, Any] | None) -> dict[str, float]:
    """DEFAULT_WEIGHTS overridden by `weights`. Unknown keys, negative or non-numeric weights and an
    all-zero set raise UserError."""
    out = dict(DEFAULT_WEIGHTS)
    known = ", ".join(DEFAULT_WEIGHTS)
    for key, value in (weights or {}).items():
        if key not in DEFAULT_WEIGHTS:
            raise UserError(f"unknown quality weight '{key}': known weights are {known}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserError(f"quality weight '{key}' must be a number >= 0, got {value!r}")
        out[key] = float(value)
    if sum(out.values()) <= 0:
        raise UserError(f"quality weights are all 0: give at least one of {known} a positive weight")
    return out
