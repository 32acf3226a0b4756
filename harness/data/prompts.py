"""Prompt rendering: a template's {question} and {context} filled from an example, and the completion a
training row ends with; a template that does not fit the examples is a one-line UserError."""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.data.examples import Example
from harness.errors import UserError

PLACEHOLDER = re.compile(r"\{(question|context)\}")


def validate_template(template: str, examples: Iterable[Example] = ()) -> None:
    """A template must contain {question}; it must contain {context} exactly when the examples have one."""
    if "{question}" not in template:
        raise UserError(f"prompt template {template!r} has no {{question}}; add it")
    has_ctx = "{context}" in template
    for ex in examples:
        _check_context(template, has_ctx, ex)


def _check_context(template: str, has_ctx: bool, ex: Example) -> None:
    if ex.context is not None and not has_ctx:
        raise UserError(
            f"prompt template {template!r} has no {{context}} but example {ex.id} has a passage (KorQuAD); "
            f"set data.prompt_template to one with {{context}} and {{question}}"
        )
    if ex.context is None and has_ctx:
        raise UserError(
            f"prompt template {template!r} uses {{context}} but example {ex.id} has no passage; "
            f"use a template without {{context}} for this data file"
        )


def render_prompt(template: str, ex: Example) -> str:
    """The prompt for one example. It never ends in whitespace: the completion brings the leading space,
    so the tokenized prompt is a prefix of the tokenized prompt + completion."""
    if "{question}" not in template:
        raise UserError(f"prompt template {template!r} has no {{question}}; add it")
    _check_context(template, "{context}" in template, ex)
    values = {"question": ex.question, "context": ex.context or ""}
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template).rstrip()


def render_completion(ex: Example, eos: str | None) -> str:
    """' ' + the reference answer (+ the end token)."""
    if ex.answer is None:
        raise UserError(f"example {ex.id} has no reference answer; it cannot be a training row")
    return " " + ex.answer.strip() + (eos or "")
