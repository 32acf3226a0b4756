"""The one way a run or a configuration is named: 'gemma-2-2b-it r16 hf none b2 len512'.

Every label in the harness (progress lines, result-file stems, the report's rows, the end-of-sweep table, the
memory model's runs) is built here: candidate, rank, backend, quantisation, then whatever else tells runs
apart (the settings a sweep varies, the weights mode, an emulated GPU), then a repeat's or warm-up's mark.
Bottom floor: strings in, a string out.
"""

from __future__ import annotations

from collections.abc import Iterable


def run_label(
    candidate: str | None,
    rank: object,
    backend: str | None = None,
    quant: str | None = None,
    tags: Iterable[str] = (),
    *,
    variant: str = "",
    tail: str = "",
    sep: str = " ",
) -> str:
    """'<candidate> r<rank> <backend> <quant> <tags...>' joined by `sep` (a file stem uses '-'), a part given as
    None or '' left out; then `variant` (' (as T4)') and `tail` (' #2', ' warm-up', '-rep2') as they are."""
    words = [candidate, f"r{rank}", backend, quant, *tags]
    return sep.join(w for w in words if w) + variant + tail


def emulated_variant(gpu: str | None) -> str:
    """' (as T4)' for a run that emulated a smaller GPU, else ''."""
    return f" (as {gpu})" if gpu is not None else ""


def repeat_tail(repeat: int, warmup: bool = False, *, sep: str = " ") -> str:
    """' #2' for a second repeat (' warm-up' for a warm-up run, '' for a first run); with sep '-': '-rep2',
    '-warmup'."""
    if sep == "-":
        return "-warmup" if warmup else (f"-rep{repeat + 1}" if repeat else "")
    return " warm-up" if warmup else (f" #{repeat + 1}" if repeat else "")
