"""A candidate's GGUF file inside an installed package (located with importlib.util.find_spec, never imported),
dequantised once into a safetensors folder in the harness's cache."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from harness.config import Candidate
from harness.errors import UserError
from harness.weights.cache import cache_root, locked, save_entry, short_hash


def find_gguf(candidate: Candidate) -> Path:
    assert candidate.gguf is not None
    spec = importlib.util.find_spec(candidate.gguf.package)  # finds the package without running its __init__
    if spec is None or spec.origin is None:
        raise UserError(
            f"candidate '{candidate.name}': package '{candidate.gguf.package}' is not installed; "
            f"run `make setup` (it installs it with pip --no-deps)"
        )
    path = Path(spec.origin).parent / candidate.gguf.file
    if not path.is_file():
        raise UserError(f"candidate '{candidate.name}': {path} not found in the installed package; reinstall it")
    return path


def _file_id(path: Path) -> str:
    st = path.stat()
    return short_hash([path.name, st.st_size, int(st.st_mtime)])


def convert_gguf(candidate: Candidate) -> tuple[Path, float | None]:
    """Dequantise the GGUF file once into a safetensors folder; returns (folder, seconds if converted now)."""
    gguf_path = find_gguf(candidate)
    final = cache_root() / "gguf" / f"{candidate.name}-{_file_id(gguf_path)}"
    if (final / "config.json").exists():
        return final, None
    with locked(final.with_suffix(".lock")):
        if (final / "config.json").exists():
            return final, None
        t0 = time.perf_counter()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), gguf_file=gguf_path.name, dtype=torch.float32
        )
        eos = candidate.gguf.eos_token if candidate.gguf else None
        if eos:
            # The GGUF conversion sets eos to <|im_start|> and no pad; the model's config says <|im_end|>.
            tok.eos_token = eos
            tok.pad_token = eos
            eos_id = tok.convert_tokens_to_ids(eos)
            model.config.eos_token_id = eos_id
            model.config.pad_token_id = eos_id
            model.generation_config.eos_token_id = eos_id
            model.generation_config.pad_token_id = eos_id
        # save_pretrained refuses a model "quantized with GGUF"; the weights are already dequantised.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        save_entry(final, model, tok, source={"gguf": str(gguf_path), "eos_fix": eos})
        return final, time.perf_counter() - t0
