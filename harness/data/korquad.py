"""KorQuAD (`korquad`): KorQuAD v1 / SQuAD nested JSON (``{"data": [{"paragraphs": [{"context", "qas"}]}]}``)
or flat records ``{context, question, answers: {text: [...], answer_start: [...]}}`` (a .json list, a .jsonl
file, or a hub split). The first answer text is both the reference and the contains-match key phrase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.examples import Example
from harness.data.records import first_answer, parse_json, read_records, record_id, text_field
from harness.errors import UserError


def load_korquad_file(path: Path, text: str) -> list[Example]:
    if path.suffix.lower() == ".json":
        parsed = parse_json(path, text)
        if isinstance(parsed, dict):
            return _load_nested(path, parsed)
    return korquad_examples(path, read_records(path, text))


def korquad_examples(path: Path, records: list[tuple[str, dict[str, Any]]]) -> list[Example]:
    """Flat (where, record) pairs as examples; `path` names the file (or the hub split) in errors."""
    examples = []
    for i, (where, rec) in enumerate(records):
        rid = record_id(rec, i)
        examples.append(korquad_example(path, f"{where} (id {rid})", rid, rec, rec.get("context")))
    return examples


def _load_nested(path: Path, doc: dict[str, Any]) -> list[Example]:
    data = doc.get("data")
    if not isinstance(data, list):
        found = ", ".join(sorted(doc)) or "none"
        raise UserError(f"{path}: expected KorQuAD v1 JSON with a 'data' list (fields found: {found})")
    examples = []
    for a, article in enumerate(data):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise UserError(f"{path}: data[{a}]: missing field 'paragraphs' (a list); fix the file")
        for p, para in enumerate(paragraphs):
            where_p = f"data[{a}].paragraphs[{p}]"
            if not isinstance(para, dict) or not isinstance(para.get("qas"), list):
                raise UserError(f"{path}: {where_p}: missing field 'qas' (a list); fix the file")
            for q, qa in enumerate(para["qas"]):
                if not isinstance(qa, dict):
                    raise UserError(f"{path}: {where_p}.qas[{q}]: expected a JSON object; fix the file")
                rid = record_id(qa, len(examples))
                where = f"{where_p}.qas[{q}] (id {rid})"
                examples.append(korquad_example(path, where, rid, qa, para.get("context")))
    return examples


def korquad_example(path: Path, where: str, rid: str, rec: dict[str, Any], context: Any) -> Example:
    if not isinstance(context, str) or not context.strip():
        raise UserError(f"{path}: {where}: field 'context' is missing or empty; add the passage")
    question = text_field(path, where, rec, "question")
    if not question:
        raise UserError(f"{path}: {where}: field 'question' is empty; write the question")
    answer = first_answer(rec.get("answers"))
    if answer is None:
        raise UserError(
            f"{path}: {where}: field 'answers' has no answer text; give "
            f'"answers": {{"text": [...], "answer_start": [...]}} or drop the row'
        )
    return Example(id=rid, question=question, answer=answer, context=context.strip(), key_phrase=answer, split="train")
