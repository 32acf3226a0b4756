"""What a model folder says about itself, read with transformers in its own process:

    python -m harness.model_probe FOLDER [--trust-remote-code]      # prints one JSON object

- params: parameters of the architecture built from config.json on the meta device (no weights are
  read; tied tensors counted once), as `model.parameters()` counts them;
- lora_targets: every linear layer PEFT's "all-linear" would wrap (the output layer left out), as the
  shortest name suffixes that match them and nothing else, the form candidates.yaml uses;
- prompt_template: the tokenizer's chat template around one user turn whose text is `{question}`,
  with the generation prompt; null when the folder has no tokenizer or no chat template;
- tokenizer_problem: null when transformers loads a tokenizer from the folder, else why not, naming the
  files the model type's tokenizer class reads that are missing (a run with real weights needs them).

The sweep parent never imports torch or transformers, so model_spec.py runs this as a child. The folder
must hold config.json (and the tokenizer files for the template); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

QUESTION = "{question}"


def count_params(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def suffixes(chosen: set[str], others: set[str]) -> list[str]:
    """For each chosen module name, its shortest dotted suffix that matches no name in `others`
    (PEFT matches an entry when a module's name equals it or ends with '.' + entry)."""

    def matches(name: str, entry: str) -> bool:
        return name == entry or name.endswith("." + entry)

    out = set()
    for name in chosen:
        parts = name.split(".")
        for k in range(1, len(parts) + 1):
            entry = ".".join(parts[-k:])
            if not any(matches(o, entry) for o in others):
                out.add(entry)
                break
        else:
            out.add(name)
    return sorted(out)


def linear_targets(model: Any) -> list[str]:
    """PEFT's own "all-linear" resolution, written back as name suffixes."""
    from peft import LoraConfig
    from peft.tuners.tuners_utils import _maybe_include_all_linear_layers

    cfg = _maybe_include_all_linear_layers(LoraConfig(target_modules="all-linear", task_type="CAUSAL_LM"), model)
    chosen = set(cfg.target_modules)
    others = {name for name, _ in model.named_modules() if name and name not in chosen}
    return suffixes(chosen, others)


def load_tokenizer(folder: str, trust_remote_code: bool) -> tuple[Any, str | None]:
    """(tokenizer, None), or (None, the error's first line) when transformers cannot load one from the folder."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, trust_remote_code=trust_remote_code), None
    except Exception as e:
        return None, f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0][:200]}"


def tokenizer_files(model_type: str) -> tuple[str, list[str]]:
    """The tokenizer class transformers uses for a model type, and the files it reads one from."""
    try:
        from transformers.models.auto import tokenization_auto as auto
        from transformers.tokenization_utils_tokenizers import TokenizersBackend

        name = auto.TOKENIZER_MAPPING_NAMES.get(model_type)
        cls = auto.tokenizer_class_from_name(name) if name else None
        files = getattr(cls, "vocab_files_names", None) or TokenizersBackend.vocab_files_names
        return name or TokenizersBackend.__name__, list(dict.fromkeys(files.values()))
    except Exception:  # another transformers layout: the files every fast or sentencepiece tokenizer reads
        return "its tokenizer class", ["tokenizer.json", "tokenizer.model"]


def tokenizer_problem(folder: str, model_type: str, error: str) -> str:
    """One line on why the folder has no usable tokenizer, naming what is missing."""
    cls, files = tokenizer_files(model_type)
    missing = [f for f in files if not (Path(folder) / f).is_file()]
    if len(missing) == len(files):
        return f"has no tokenizer files: none of {', '.join(missing)} (what transformers' {cls} reads) is there"
    return f"has a tokenizer transformers cannot load ({error}); missing: {', '.join(missing) or 'nothing it names'}"


def chat_prompt(tok: Any) -> str | None:
    if tok is None or not getattr(tok, "chat_template", None):
        return None
    try:
        text = tok.apply_chat_template(
            [{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True
        )
    except Exception:
        return None
    if not isinstance(text, str) or text.count(QUESTION) != 1:
        return None
    bos, bos_id = getattr(tok, "bos_token", None), getattr(tok, "bos_token_id", None)
    adds_bos = bos_id is not None and tok("x")["input_ids"][:1] == [bos_id]
    if adds_bos and bos and text.startswith(bos):
        text = text[len(bos) :]  # the tokenizer adds it again when the trainer tokenizes the prompt
    return text


def probe(folder: str, trust_remote_code: bool = False) -> dict[str, Any]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(folder, trust_remote_code=trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    tok, error = load_tokenizer(folder, trust_remote_code)
    return {
        "model_type": config.model_type,
        "architecture": type(model).__name__,
        "params": count_params(model),
        "lora_targets": linear_targets(model),
        "prompt_template": chat_prompt(tok),
        "tokenizer_problem": None if error is None else tokenizer_problem(folder, config.model_type, error),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.model_probe", description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--trust-remote-code", action="store_true")
    args = ap.parse_args(argv)
    try:
        out = probe(args.folder, args.trust_remote_code)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:300]
        print(json.dumps({"error": f"{type(e).__name__}: {first}"}))
        return 1
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
