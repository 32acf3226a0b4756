"""Answer quality, offline: chrF++, bits per character, contains-match, Hangul ratio, repetition,
distinct-2, truncation; bootstrap intervals over prompts; a composite score; human grades.

    from harness.quality import score_run, composite_block
    per_answer, quality = score_run(answers, {"tuned": bpc}, meaningful=True)     # the run child
    block = composite_block(answers_with_scores, weights)                         # the report
"""

from harness.quality.bootstrap import align_by_id, bootstrap_ci, paired_bootstrap
from harness.quality.metrics import bits_per_char, chrf_corpus, chrf_sentence
from harness.quality.score import (
    COMPOSITE_FORMULA,
    DEFAULT_WEIGHTS,
    answer_composites,
    composite,
    composite_block,
    resolve_weights,
    score_answer,
    score_run,
    summarize,
)

__all__ = [
    "COMPOSITE_FORMULA",
    "DEFAULT_WEIGHTS",
    "align_by_id",
    "answer_composites",
    "bits_per_char",
    "bootstrap_ci",
    "chrf_corpus",
    "chrf_sentence",
    "composite",
    "composite_block",
    "paired_bootstrap",
    "resolve_weights",
    "score_answer",
    "score_run",
    "summarize",
]
