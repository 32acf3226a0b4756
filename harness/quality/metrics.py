"""Per-answer quality metrics: offline, cheap, comparable across tokenizers.

Every function takes plain strings and numbers; none loads a model. The model-dependent
figure (the answer-only loss) is computed by the run and passed to `bits_per_char`.

Choices, documented once here:

* chrF++ is sacrebleu's ``CHRF(word_order=2)`` (character 6-grams + word 2-grams, beta 2), at
  sentence level (`chrf_sentence`) and corpus level (`chrf_corpus`). Character n-grams suit
  Korean: one 어절 (space-separated unit) glues a stem and its particles, so exact word matches
  are rare even between good paraphrases.
* Bits per character = answer-only negative log-likelihood (nats) / characters / ln 2. Loss per
  token is not comparable between tokenizers (a tokenizer with longer tokens has fewer, harder
  tokens); per character of the same reference text it is.
* Normalisation (`normalize`): Unicode NFKC, case-folded, punctuation, symbols and emoji
  (categories P*, S*, Cf, Me, variation selectors) dropped or turned into spaces, whitespace collapsed.
* Contains-match removes *all* whitespace from both sides before the substring test: model
  answers often space Korean differently (띄어쓰기) from the reference, which should not decide it.
* n-gram unit for repetition and distinct-2: word n-grams when the answer has at least
  `MIN_WORDS_FOR_WORD_NGRAMS` (4) words, else character n-grams over the answer with spaces
  removed. A short Korean answer has too few 어절 for word n-grams to mean anything, and a long
  one repeats itself in whole words ("좋아 좋아 좋아 ..."), which word n-grams catch without
  counting the harmless repeats of common syllables that character n-grams would.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

from sacrebleu.metrics import CHRF

MIN_WORDS_FOR_WORD_NGRAMS = 4
REPEAT_N = 4  # repetition: share of 4-grams that repeat an earlier 4-gram

_CHRF = CHRF(word_order=2)  # chrF++; stateless between calls

# Hangul syllables and every jamo block (conjoining, compatibility, extended A/B, half-width).
_HANGUL_RANGES = (
    (0xAC00, 0xD7A3),
    (0x1100, 0x11FF),
    (0x3130, 0x318F),
    (0xA960, 0xA97F),
    (0xD7B0, 0xD7FF),
    (0xFFA0, 0xFFDC),
)


# ---------------------------------------------------------------- text helpers


def _is_noise(ch: str) -> bool:
    """Punctuation, symbols (emoji included), format characters (ZWJ), keycaps, variation selectors."""
    cat = unicodedata.category(ch)
    return cat[0] in "PS" or cat in ("Cf", "Me") or 0xFE00 <= ord(ch) <= 0xFE0F


def normalize(text: str, noise: str = " ") -> str:
    """NFKC, case-folded, punctuation/symbols/emoji replaced by `noise`, whitespace collapsed to one space."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(noise if _is_noise(ch) else ch for ch in text)
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Words of the normalised text (punctuation separates words)."""
    return normalize(text).split()


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _HANGUL_RANGES)


def _units(text: str) -> list[str]:
    """The n-gram unit: words when there are enough of them, else characters (spaces removed)."""
    ws = words(text)
    if len(ws) >= MIN_WORDS_FOR_WORD_NGRAMS:
        return ws
    return list("".join(ws))


def _ngrams(units: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]


# ---------------------------------------------------------------- reference-based


def chrf_sentence(hypothesis: str, reference: str) -> float:
    """Sentence-level chrF++ (0..100) of one answer against its reference."""
    return float(_CHRF.sentence_score(hypothesis, [reference]).score)


def chrf_corpus(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus-level chrF++ (0..100): n-gram statistics summed over all pairs, then one F-score."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    return float(_CHRF.corpus_score(list(hypotheses), [list(references)]).score)


def chrf_corpus_stats(hypotheses: Sequence[str], references: Sequence[str]) -> list[list[int]] | None:
    """Per-pair chrF++ n-gram statistics, for resampling the corpus score; None if sacrebleu hides them."""
    try:
        return [list(s) for s in _CHRF._extract_corpus_statistics(list(hypotheses), [list(references)])]
    except AttributeError:  # private sacrebleu API moved: the corpus score then gets no interval
        return None


def chrf_from_stats(stats: Sequence[float]) -> float:
    """Corpus chrF++ from summed statistics (see `chrf_corpus_stats`)."""
    return float(_CHRF._compute_score_from_stats([int(s) for s in stats]).score)


def key_phrase_of(reference: str, key_phrase: str | None = None) -> str:
    """The phrase a contains-match looks for: `key_phrase` if given, else the whole reference
    stripped of trailing punctuation, symbols and emoji."""
    phrase = key_phrase if key_phrase is not None and key_phrase.strip() else reference
    phrase = phrase.rstrip()
    while phrase and (_is_noise(phrase[-1]) or phrase[-1].isspace()):
        phrase = phrase[:-1]
    return phrase


def _squash(text: str) -> str:
    return normalize(text, noise="").replace(" ", "")


def contains_match(answer: str, reference: str, key_phrase: str | None = None) -> bool | None:
    """The key phrase occurs in the answer after normalisation (case, punctuation, emoji, all
    whitespace removed). None when the key phrase normalises to nothing (a reference of emoji only)."""
    key = _squash(key_phrase_of(reference, key_phrase))
    if not key:
        return None
    return key in _squash(answer)


def bits_per_char(nll_nats_sum: float, n_chars: int) -> float:
    """Bits per character: the answer-only loss summed in nats over the reference answer,
    divided by its character count and by ln 2. Comparable across tokenizers."""
    if n_chars <= 0:
        raise ValueError(f"bits_per_char needs n_chars > 0, got {n_chars}")
    if not math.isfinite(nll_nats_sum) or nll_nats_sum < 0:
        raise ValueError(f"bits_per_char needs a finite, non-negative loss sum, got {nll_nats_sum}")
    return nll_nats_sum / n_chars / math.log(2)


# ---------------------------------------------------------------- reference-free


def hangul_ratio(answer: str) -> float | None:
    """Hangul letters (syllables + jamo) over all letters; spaces, digits, punctuation and emoji
    are not letters. None for an answer with no letters."""
    letters = [ch for ch in answer if unicodedata.category(ch).startswith("L")]
    if not letters:
        return None
    return sum(1 for ch in letters if is_hangul(ch)) / len(letters)


def is_empty(answer: str) -> bool:
    """Nothing but whitespace, punctuation, symbols or emoji (no letter, no digit)."""
    return not any(unicodedata.category(ch)[0] in "LN" for ch in answer)


def repetition(answer: str) -> float | None:
    """Share of 4-grams (word or character, see the module notes) that repeat an earlier 4-gram.
    0.0 for an answer too short to have a 4-gram; None for an empty answer."""
    if is_empty(answer):
        return None
    grams = _ngrams(_units(answer), REPEAT_N)
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for g in grams:
        if g in seen:
            repeats += 1
        seen.add(g)
    return repeats / len(grams)


def distinct2(answer: str) -> float | None:
    """Distinct-2: unique bigrams / bigrams (word or character, see the module notes).
    None when the answer has no bigram (empty or a single character)."""
    grams = _ngrams(_units(answer), 2)
    if not grams:
        return None
    return len(set(grams)) / len(grams)


def truncated(hit_eos: bool) -> bool:
    """Generation stopped at max_new_tokens without an end-of-sequence token."""
    return not hit_eos
