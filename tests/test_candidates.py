"""candidates.yaml: it validates, every architecture builds, counts and LoRA targets are right.

Fast and CPU-only: models are built on the meta device (shapes, no storage), so even the
2.6 B-parameter Gemma 2 costs no memory. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import re
from pathlib import Path

import pytest
import torch
import yaml
from peft import LoraConfig
from peft.tuners.tuners_utils import check_target_module_exists
from transformers import AutoConfig, AutoModelForCausalLM

from harness.config import CANDIDATES_FILE, Candidate, CandidateFile, load_candidates
from harness.errors import UserError

STUDY = [
    "gemma-2-2b-it",
    "koquality-polyglot-1.3b",
    "gemma-ko-v01",
    "polyglot-ko-1.3b",
    "llama1B",
    "KoAlpaca-KoRWKV-1.5B",
    "FinguAI-Chat-v1",
]
DEFAULT = "smollm2-135m"
TOLERANCE = 0.03  # computed vs published parameter count


def _candidates() -> list[Candidate]:
    return load_candidates(CANDIDATES_FILE).candidates


CANDIDATES = _candidates()


@functools.cache
def _meta_model(name: str) -> torch.nn.Module:
    cand = next(c for c in CANDIDATES if c.name == name)
    config = AutoConfig.for_model(cand.model_type, **cand.shape_config)
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def _hub_count_extras(cand: Candidate, model: torch.nn.Module) -> int:
    """Values that the published (Hub) count includes but that are not parameters.

    GPT-NeoX checkpoints saved by older transformers (polyglot-ko) store every layer's causal
    mask, `attention.bias`, a max_position_embeddings x max_position_embeddings buffer, and
    the Hub's safetensors count adds it: polyglot-ko-1.3b is 1,331,810,304 parameters (model
    card) + 24 x 2048 x 2048 = 1,432,473,600, the "1.43 B" the study quotes. Current
    transformers builds the mask on the fly, so it is counted here rather than in the model.
    """
    if cand.family == "gpt_neox":
        cfg = model.config
        return cfg.num_hidden_layers * cfg.max_position_embeddings**2
    return 0


# ---------------------------------------------------------------- the file itself


def test_file_validates_with_the_expected_candidates() -> None:
    cf = load_candidates(CANDIDATES_FILE)
    assert isinstance(cf, CandidateFile)
    names = [c.name for c in cf.candidates]
    assert names == [*STUDY, DEFAULT]
    assert len(set(names)) == len(names)
    assert cf.get(DEFAULT).weights == "gguf-package"


def test_study_candidates_carry_the_teams_figures() -> None:
    for c in CANDIDATES:
        if c.name == DEFAULT:
            assert c.ko_llm_avg is None and c.published is None and c.gguf is not None
            continue
        assert c.weights == "hub" and c.gguf is None
        assert c.ko_llm_avg is not None
        assert c.published is not None and c.published.gpu == "Tesla T4"
        assert set(c.published.finetune_s) == set(c.published.finetune_mb) == {16, 32, 64}
        assert c.published.inference_s and c.published.inference_mb


def test_unsloth_native_follows_family() -> None:
    for c in CANDIDATES:
        assert c.unsloth_native == (c.family in {"gemma2", "gemma", "llama", "qwen2"}), c.name
        assert not c.trust_remote_code, c.name
        assert c.prompt_template == "### 질문: {question} ### 답변:", c.name


def test_every_shape_config_line_names_its_source() -> None:
    """Each value line under shape_config: carries a trailing '# ...' saying where it comes from."""
    lines = CANDIDATES_FILE.read_text(encoding="utf-8").splitlines()
    inside, indent, missing, seen = False, 0, [], 0
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped:
            continue
        here = len(line) - len(line.lstrip())
        if stripped.startswith("shape_config:"):
            inside, indent = True, here
            continue
        if inside and here <= indent and not stripped.startswith("#"):
            inside = False
        if inside and not stripped.startswith("#"):
            seen += 1
            if not re.search(r"\s#\s*\S", line):
                missing.append(n)
    assert seen >= 8 * 8
    assert not missing, f"shape_config lines without a source comment: {missing}"


# ---------------------------------------------------------------- each architecture


@pytest.mark.parametrize("name", [c.name for c in CANDIDATES])
def test_shape_config_keys_are_understood(name: str) -> None:
    """No typo slips through: transformers keeps unknown keys as inert attributes.

    Each key is a constructor argument of the config class, or a config.json legacy RoPE key
    that transformers folds into `rope_parameters` (checked to arrive there).
    """
    cand = next(c for c in CANDIDATES if c.name == name)
    cls = type(AutoConfig.for_model(cand.model_type))
    known = set(inspect.signature(cls.__init__).parameters) | set(getattr(cls, "attribute_map", {}))
    legacy = {"rope_theta", "rope_scaling", "rotary_pct", "rotary_emb_base"}
    sc = cand.shape_config
    assert not set(sc) - known - legacy, f"{name}: unknown shape_config keys {set(sc) - known - legacy}"
    rope = getattr(_meta_model(name).config, "rope_parameters", None) or {}
    if "rope_theta" in sc or "rotary_emb_base" in sc:
        assert rope.get("rope_theta") == sc.get("rope_theta", sc.get("rotary_emb_base")), name
    if "rotary_pct" in sc:
        assert rope.get("partial_rotary_factor") == sc["rotary_pct"], name
    if "rope_scaling" in sc:
        assert rope.get("rope_type") == sc["rope_scaling"]["rope_type"], name
        assert rope.get("factor") == sc["rope_scaling"]["factor"], name


@pytest.mark.parametrize("name", [c.name for c in CANDIDATES])
def test_parameter_count_matches_published(name: str) -> None:
    cand = next(c for c in CANDIDATES if c.name == name)
    model = _meta_model(name)
    assert type(model).__name__.lower().startswith(cand.model_type.replace("_", ""))
    unique = sum(p.numel() for p in model.parameters())  # tied embeddings counted once
    counted = unique + _hub_count_extras(cand, model)
    published = cand.params_b * 1e9
    assert abs(counted - published) / published <= TOLERANCE, (
        f"{name}: built {unique:,} parameters (+{counted - unique:,} stored buffers) vs published {cand.params_b} B"
    )


@pytest.mark.parametrize("name", [c.name for c in CANDIDATES])
def test_lora_targets_are_linear_layers(name: str) -> None:
    cand = next(c for c in CANDIDATES if c.name == name)
    model = _meta_model(name)
    linear = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    everything = [n for n, _ in model.named_modules()]
    assert len(set(cand.lora_target_modules)) == len(cand.lora_target_modules)
    for target in cand.lora_target_modules:
        # PEFT's own matching rule: exact name, or name ending in "." + target
        cfg = LoraConfig(target_modules=[target])
        hits = [n for n in everything if check_target_module_exists(cfg, n)]
        assert hits, f"{name}: LoRA target {target!r} matches no module"
        not_linear = [n for n in hits if n not in linear]
        assert not not_linear, f"{name}: LoRA target {target!r} also matches non-Linear {not_linear[:3]}"
    # every block's projections are covered: one hit per layer for each target
    layers = model.config.num_hidden_layers
    for target in cand.lora_target_modules:
        cfg = LoraConfig(target_modules=[target])
        assert sum(bool(check_target_module_exists(cfg, n)) for n in linear) == layers, (name, target)


def test_gguf_default_matches_its_shape_config() -> None:
    """The embedded GGUF file has the architecture shape_config describes (read, never imported)."""
    gguf = pytest.importorskip("gguf")
    cand = next(c for c in CANDIDATES if c.weights == "gguf-package")
    assert cand.gguf is not None
    spec = importlib.util.find_spec(cand.gguf.package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"package {cand.gguf.package} is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / cand.gguf.file
    assert path.is_file(), path
    reader = gguf.GGUFReader(str(path))

    def field(key: str):
        return reader.fields[key].contents()

    arch = field("general.architecture")
    assert arch == cand.model_type == "llama"
    sc = cand.shape_config
    assert field(f"{arch}.block_count") == sc["num_hidden_layers"]
    assert field(f"{arch}.embedding_length") == sc["hidden_size"]
    assert field(f"{arch}.feed_forward_length") == sc["intermediate_size"]
    assert field(f"{arch}.attention.head_count") == sc["num_attention_heads"]
    assert field(f"{arch}.attention.head_count_kv") == sc["num_key_value_heads"]
    assert field(f"{arch}.rope.dimension_count") == sc["head_dim"]
    assert field(f"{arch}.context_length") == sc["max_position_embeddings"]
    assert field(f"{arch}.vocab_size") == sc["vocab_size"]
    assert field(f"{arch}.rope.freq_base") == pytest.approx(sc["rope_theta"])
    names = {t.name for t in reader.tensors}
    assert ("output.weight" not in names) == sc["tie_word_embeddings"]
    n_values = sum(int(t.n_elements) for t in reader.tensors)
    assert n_values == sum(p.numel() for p in _meta_model(cand.name).parameters())
    assert cand.gguf.eos_token in field("tokenizer.ggml.tokens")


# ---------------------------------------------------------------- malformed files


def _tiny(name: str = "tiny") -> dict:
    return {
        "name": name,
        "hub_id": "org/tiny",
        "params_b": 0.1,
        "license": "apache-2.0",
        "family": "llama",
        "model_type": "llama",
        "shape_config": {"hidden_size": 64},
        "lora_target_modules": ["q_proj"],
    }


def _write(tmp_path: Path, content: dict | str) -> Path:
    path = tmp_path / "candidates.yaml"
    text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_candidate_file_loads(tmp_path: Path) -> None:
    assert load_candidates(_write(tmp_path, {"candidates": [_tiny()]})).get("tiny").family == "llama"


def _without_license() -> dict:
    c = _tiny()
    del c["license"]
    return {"candidates": [c]}


def test_a_new_architecture_family_is_accepted(tmp_path: Path) -> None:
    """`family` only describes; loading follows model_type, so a new family needs no code change."""
    cands = load_candidates(_write(tmp_path, {"candidates": [_tiny("mambo") | {"family": "mamba"}]}))
    assert cands.get("mambo").family == "mamba"


def test_descriptive_fields_stay_out_of_the_model_spec() -> None:
    spec = load_candidates().get("gemma-2-2b-it").model_spec()
    assert {"license", "ko_llm_avg", "published", "params_b", "family"}.isdisjoint(spec)
    assert {"hub_id", "shape_config", "lora_target_modules", "prompt_template"} <= set(spec)


MALFORMED = {
    # variant: (file content, words the one-line message must contain besides the file)
    "bad-yaml-syntax": ("candidates:\n  - name: tiny\n    hub_id: [org/tiny\n    license: x\n", ["line", "YAML"]),
    "missing-field": (_without_license(), ["tiny", "license"]),
    "duplicate-name": ({"candidates": [_tiny("twin"), _tiny("twin")]}, ["twin", "duplicate"]),
    "not-a-mapping": ("- just\n- a list\n", ["candidates"]),
}


@pytest.mark.parametrize("variant", list(MALFORMED))
def test_malformed_file_gives_one_line_user_error(tmp_path: Path, variant: str) -> None:
    content, words = MALFORMED[variant]
    path = _write(tmp_path, content)
    with pytest.raises(UserError) as exc:
        load_candidates(path)
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message, f"{variant}: {word!r} not in {message!r}"
