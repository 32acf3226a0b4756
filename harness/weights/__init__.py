"""Where a run's weights come from, resolved to a local folder that `from_pretrained` can load.

- real, `weights: gguf-package`: the GGUF file inside an installed package (located with
  importlib.util.find_spec, never imported), converted once to a safetensors folder in the cache.
- real, `weights: hub`: `--weights-path` folder, or a local folder given as the model, else the
  Hugging Face hub as transformers users know it: the HF cache first; on a miss, a download through
  huggingface_hub (progress bars, resumable); cache only when the user sets HF_HUB_OFFLINE=1.
  The preflight (harness/preflight.py) does the download in the parent, before any
  run starts, so a run finds its weights in the cache.
- shape: the candidate's architecture from `shape_config`, random weights from a fixed seed,
  built once and saved to the cache, so that every backend (plain or not, 16-bit or 4-bit) loads it the
  same way; the tokenizer is the real one (config and tokenizer files only, a few MB, fetched by
  the preflight), else a byte-level BPE trained on the run's data file: a stand-in, recorded as such.

One-time costs (conversion, building) are returned apart and never enter a run's phase figures.
The cache lives in $HARNESS_CACHE (default ~/.cache/lora-harness), outside the repository.
This module imports neither torch nor transformers at the top: the sweep parent uses it.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.config import Candidate, RunRequest
from harness.errors import UserError


@dataclass
class ResolvedWeights:
    model_dir: Path
    tokenizer_dir: Path
    source: str
    tokenizer_desc: str
    one_time: dict[str, float] = field(default_factory=dict)  # seconds, only when done in this run
    seed: int | None = None
    hub_access: str | None = None  # cache | downloaded | offline | unreachable; None: no hub involved
    tokenizer_kind: str = "real"  # "real", or "stand-in" (a BPE trained on the data: lengths are not the model's)


def cache_root() -> Path:
    root = Path(os.environ.get("HARNESS_CACHE") or Path.home() / ".cache" / "lora-harness")
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise builders of one cache entry across processes (several GPUs, several sweeps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _publish(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(tmp, ignore_errors=True)
        return
    os.replace(tmp, final)


def _save_entry(final: Path, *parts: Any, source: dict[str, Any] | None = None) -> None:
    """save_pretrained each part (model, tokenizer) into a temp folder beside `final`, then publish it whole."""
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    for part in parts:
        part.save_pretrained(tmp)
    if source is not None:
        (tmp / "harness-source.json").write_text(json.dumps(source))
    _publish(tmp, final)


def _short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:12]


# ---------------------------------------------------------------- GGUF inside a package


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
    return _short_hash([path.name, st.st_size, int(st.st_mtime)])


def convert_gguf(candidate: Candidate) -> tuple[Path, float | None]:
    """Dequantise the GGUF file once into a safetensors folder; returns (folder, seconds if converted now)."""
    gguf_path = find_gguf(candidate)
    final = cache_root() / "gguf" / f"{candidate.name}-{_file_id(gguf_path)}"
    if (final / "config.json").exists():
        return final, None
    with _locked(final.with_suffix(".lock")):
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
        _save_entry(final, model, tok, source={"gguf": str(gguf_path), "eos_fix": eos})
        return final, time.perf_counter() - t0


# ---------------------------------------------------------------- the Hugging Face hub

HUB_ACCESS_ENV = "HARNESS_HUB_ACCESS"  # JSON {hub id: "downloaded"}: what the sweep's preflight fetched
# Weights and what loading needs, at the repository's top level (transformers reads no subfolder).
WEIGHT_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja", "*.py"]
# Config and tokenizer only: shape mode's few MB.
SHAPE_FILES = ["config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json", "vocab*",
               "merges.txt", "added_tokens.json", "*.tiktoken", "chat_template*", "spiece.model",
               "sentencepiece*.model"]  # fmt: skip
TOKENIZER_MARKERS = ("tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model")


@dataclass
class Fetched:
    """A local folder with what was asked for, and how the hub was used to get it."""

    path: Path | None
    access: str | None  # cache | downloaded | offline | unreachable; None: a local folder, no hub
    problem: str | None = None  # why `path` is None (one line)


def hub_offline() -> bool:
    """The user's HF_HUB_OFFLINE (read now, not at import time: tests and the CLI set it late)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


_REACHABLE: dict[str, bool] = {}


def hub_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT


def hub_reachable() -> bool:
    """One short request to the hub, without retries: huggingface_hub retries a dead network for ~25 s a file."""
    endpoint = hub_endpoint()
    if endpoint not in _REACHABLE:
        from huggingface_hub.utils import get_session

        try:
            get_session().head(endpoint, timeout=5.0)
            _REACHABLE[endpoint] = True
        except Exception:
            _REACHABLE[endpoint] = False
    return _REACHABLE[endpoint]


def hub_cache_dir() -> Path:
    """The Hugging Face cache, from the environment as it is now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path(constants.HF_HUB_CACHE)


def is_local_ref(hub_id: str) -> bool:
    """A candidate whose `hub_id` is a folder on this machine (`--model PATH`), stored as an absolute path."""
    return Path(hub_id).is_absolute()


def model_page(hub_id: str) -> str:
    return f"{hub_endpoint()}/{hub_id}"


def has_weights(folder: Path) -> bool:
    """config.json plus every weight file it needs (all shards of a sharded checkpoint)."""
    if not (folder / "config.json").is_file():
        return False
    for single, index in (("model.safetensors", "model.safetensors.index.json"),
                          ("pytorch_model.bin", "pytorch_model.bin.index.json")):  # fmt: skip
        if (folder / single).is_file():
            return True
        if (folder / index).is_file():
            try:
                shards = set(json.loads((folder / index).read_text())["weight_map"].values())
            except (ValueError, KeyError, OSError):
                return False
            return all((folder / s).is_file() for s in shards)
    return False


def has_tokenizer(folder: Path) -> bool:
    return any((folder / m).is_file() for m in TOKENIZER_MARKERS) or any(folder.glob("*.tiktoken"))


def _cached(hub_id: str, patterns: list[str]) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(hub_id, local_files_only=True, allow_patterns=patterns, cache_dir=hub_cache_dir())
        )
    except Exception:
        return None


def _hub_problem(label: str, hub_id: str, e: BaseException, what: str) -> str:
    """One line for a hub error: gated, unknown, or the hub failing."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    page = model_page(hub_id)
    if isinstance(e, GatedRepoError):
        if get_token() is None:
            return (f"{label}: {hub_id} is gated and no Hugging Face token is set: accept its licence at {page}, "
                    f"then log in with `hf auth login` (or set HF_TOKEN) and run again")  # fmt: skip
        return (f"{label}: your Hugging Face token has no access to gated {hub_id}: accept its licence at {page} "
                f"with the account of that token, then run again")  # fmt: skip
    if isinstance(e, RepositoryNotFoundError):
        return (f"{label}: no model '{hub_id}' on the hub ({page}): check the id; if it is private, "
                f"log in with `hf auth login` (or set HF_TOKEN)")  # fmt: skip
    if isinstance(e, HfHubHTTPError):
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        return f"{label}: the hub failed while fetching {what} of {hub_id} ({first}); run again (downloads resume)"
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return f"{label}: fetching {what} of {hub_id} stopped ({type(e).__name__}: {first}); run again (downloads resume)"


def _miss(label: str, hub_id: str, what: str, offline: bool, real: bool) -> str:
    hint = ("pass --weights-path DIR (a save_pretrained folder), or use WEIGHTS=shape (random weights: time and "
            "memory only)") if real else "pass a local model folder as --model"  # fmt: skip
    fetch = f"`hf download {hub_id}` where there is network, then copy {hub_cache_dir()} here"
    if offline:
        return (f"{label}: {what} of {hub_id}: not in the Hugging Face cache, and HF_HUB_OFFLINE=1 is set; unset it "
                f"to download, or run {fetch}; or {hint}")  # fmt: skip
    return (f"{label}: {what} of {hub_id}: not in the Hugging Face cache, and the hub ({hub_endpoint()}) cannot be "
            f"reached; check the network or proxy (HTTPS_PROXY), or run {fetch}; or {hint}")  # fmt: skip


def _download(hub_id: str, patterns: list[str]) -> Path:
    from huggingface_hub import snapshot_download

    # progress bars and resume (.incomplete files) are huggingface_hub's own
    return Path(snapshot_download(hub_id, allow_patterns=patterns, ignore_patterns=["*/*"], cache_dir=hub_cache_dir()))


def fetch_model(hub_id: str, label: str) -> Fetched:
    """Real weights: the HF cache first; a download when online; cache only under HF_HUB_OFFLINE=1."""
    if is_local_ref(hub_id):
        p = Path(hub_id)
        if has_weights(p):
            return Fetched(p, None)
        return Fetched(
            None, None, f"{label}: {p} has no config.json with its weights; point it at a save_pretrained folder"
        )
    cached = _cached(hub_id, [*WEIGHT_FILES, "*.bin"])
    if cached is not None and has_weights(cached):
        return Fetched(cached, "offline" if hub_offline() else "cache")
    offline = hub_offline()
    if offline or not hub_reachable():
        return Fetched(
            None, "offline" if offline else "unreachable", _miss(label, hub_id, "the weights", offline, True)
        )
    print(f"{label}: downloading {hub_id} into the Hugging Face cache ({hub_cache_dir()}); it resumes if stopped",
          flush=True)  # fmt: skip
    try:
        folder = _download(hub_id, WEIGHT_FILES)
        if not has_weights(folder):  # an older repository with PyTorch .bin weights only
            folder = _download(hub_id, [*WEIGHT_FILES, "*.bin"])
    except Exception as e:
        return Fetched(None, None, _hub_problem(label, hub_id, e, "the weights"))
    if not has_weights(folder):
        return Fetched(
            None, "downloaded", f"{label}: {hub_id} has no safetensors or PyTorch weights that transformers can load"
        )
    return Fetched(folder, "downloaded")


def fetch_shape_files(hub_id: str, label: str, need_config: bool) -> Fetched:
    """Config and tokenizer files only (shape mode), cache first. `problem` says what is missing:
    the config when `need_config` (an error for the caller), else the tokenizer (the stand-in is used)."""
    what = "config.json" if need_config else "the tokenizer"

    def complete(p: Path) -> bool:
        return (p / "config.json").is_file() and has_tokenizer(p) if need_config else has_tokenizer(p)

    if is_local_ref(hub_id):
        p = Path(hub_id)
        if (p / "config.json").is_file() or not need_config:
            return Fetched(p, None)
        return Fetched(None, None, f"{label}: {p} has no config.json; point it at a model folder")
    cached = _cached(hub_id, SHAPE_FILES)
    if cached is not None and complete(cached):
        return Fetched(cached, "offline" if hub_offline() else "cache")
    offline = hub_offline()
    if offline or not hub_reachable():
        if cached is not None and (cached / "config.json").is_file() and need_config:
            return Fetched(cached, "offline" if offline else "unreachable")  # config without a tokenizer: stand-in
        return Fetched(None, "offline" if offline else "unreachable", _miss(label, hub_id, what, offline, False))
    try:
        folder = _download(hub_id, SHAPE_FILES)
    except Exception as e:
        return Fetched(None, None, _hub_problem(label, hub_id, e, what))
    if need_config and not (folder / "config.json").is_file():
        return Fetched(
            None, "downloaded", f"{label}: {hub_id} has no config.json on the hub; it is not a transformers model"
        )
    return Fetched(folder, "downloaded")


def preflight_access(hub_id: str) -> str | None:
    """What the sweep's preflight did for this hub id ("downloaded"), passed to the runs through the environment."""
    try:
        return json.loads(os.environ.get(HUB_ACCESS_ENV) or "{}").get(hub_id)
    except (ValueError, AttributeError):
        return None


def record_preflight_access(access: Mapping[str, str]) -> None:
    """Children inherit the parent's environment: they record that their weights were downloaded for them."""
    if access:
        os.environ[HUB_ACCESS_ENV] = json.dumps(dict(access), sort_keys=True)


def find_real(request: RunRequest) -> tuple[Path, str | None]:
    """(folder, hub access) of a run's real weights: --weights-path, a local folder, or the hub (cache first)."""
    cand = request.candidate
    if request.weights_path:
        p = Path(request.weights_path).expanduser()
        if not (p / "config.json").is_file():
            raise UserError(
                f"--weights-path {p}: no config.json there; point it at a folder saved with save_pretrained"
            )
        return p, None
    got = fetch_model(cand.hub_id, f"candidate '{cand.name}'")
    if got.path is None:
        raise UserError(got.problem or f"candidate '{cand.name}': weights of {cand.hub_id} not found")
    return got.path, (preflight_access(cand.hub_id) or got.access) if got.access else None


def cached_tokenizer_dir(candidate: Candidate) -> tuple[Path | None, str | None]:
    """The real tokenizer of a shape-mode run: the model's folder, or the HF cache the preflight filled.
    Cache only, in the run: the preflight did the fetching, and told the user when there was none."""
    if is_local_ref(candidate.hub_id):
        p = Path(candidate.hub_id)
        return (p, None) if has_tokenizer(p) else (None, None)
    cached = _cached(candidate.hub_id, SHAPE_FILES)
    if cached is not None and has_tokenizer(cached):
        return cached, preflight_access(candidate.hub_id) or ("offline" if hub_offline() else "cache")
    return None, "offline" if hub_offline() else None


def token_lengths(tokenizer: Any, rows: Iterable[Mapping[str, str]]) -> list[int]:
    """Tokens of each training row (prompt + completion), as this tokenizer cuts them, before any max_length
    truncation. Call it in the run once the tokenizer is loaded and the rows are rendered."""
    return [len(tokenizer(r["prompt"] + r["completion"])["input_ids"]) for r in rows]


def token_stats(tokenizer: Any, rows: Iterable[Mapping[str, str]]) -> tuple[float | None, int | None]:
    """(mean, max) of `token_lengths`."""
    lengths = token_lengths(tokenizer, rows)
    if not lengths:
        return None, None
    return statistics.fmean(lengths), max(lengths)


def truncation(lengths: Iterable[int], max_length: int) -> tuple[int, int]:
    """(rows longer than max_length, the most tokens cut from one of them): the trainer cuts every training row
    to max_length, so those rows train on their start only."""
    cut = [n - max_length for n in lengths if n > max_length]
    return len(cut), max(cut, default=0)


# ---------------------------------------------------------------- shape mode


def shape_config_hash(candidate: Candidate, seed: int) -> str:
    return _short_hash({"model_type": candidate.model_type, "config": candidate.shape_config, "seed": seed})


def trained_tokenizer(texts: list[str], data_id: str, vocab_size: int) -> tuple[Path, str]:
    """A byte-level BPE trained on the run's data: stands in for a tokenizer we cannot download."""
    size = max(300, min(vocab_size, 4096))
    final = cache_root() / "tokenizers" / f"bpe-{data_id[:12]}-{size}"
    desc = f"byte-level BPE trained on the data file (sha256 {data_id[:12]}), vocab {size}"
    if (final / "tokenizer.json").exists():
        return final, desc
    with _locked(final.with_suffix(".lock")):
        if (final / "tokenizer.json").exists():
            return final, desc
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        tok = Tokenizer(models.BPE(unk_token=None))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        specials = ["<pad>", "<s>", "</s>"]
        trainer = trainers.BpeTrainer(
            vocab_size=size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
        tok.train_from_iterator(texts, trainer=trainer)
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>")
        _save_entry(final, fast)
    return final, desc


def shape_model_config(candidate: Candidate) -> Any:
    """The transformers config of a candidate's `shape_config`, from a deep copy of it: transformers writes
    into the nested dicts it is given (a llama3 `rope_scaling` gains `rope_theta`), and the candidate is part
    of a request whose run key was taken already; a changed request would no longer re-hash to its key."""
    from transformers import AutoConfig

    return AutoConfig.for_model(candidate.model_type, **copy.deepcopy(candidate.shape_config))


def build_shape(request: RunRequest, device: str, tokenizer_dir: Path) -> tuple[Path, float | None]:
    """Random weights from the candidate's config and a fixed seed, saved once (bf16 on GPU, fp32 on CPU)."""
    cand, seed = request.candidate, request.train.seed
    dtype_name = "bf16" if device == "cuda" else "fp32"
    final = cache_root() / "shape" / f"{cand.name}-{shape_config_hash(cand, seed)}-{dtype_name}-{tokenizer_dir.name}"
    if (final / "config.json").exists():
        return final, None
    with _locked(final.with_suffix(".lock")):
        if (final / "config.json").exists():
            return final, None
        t0 = time.perf_counter()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        config = shape_model_config(cand)
        if len(tok) > config.vocab_size:
            raise UserError(f"tokenizer in {tokenizer_dir} has {len(tok)} tokens, more than {cand.name}'s vocab")
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id"):
            tid = getattr(tok, attr, None)
            if tid is not None:
                setattr(config, attr, tid)
        dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
        torch.manual_seed(seed)
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        model.generation_config.eos_token_id = tok.eos_token_id
        model.generation_config.pad_token_id = tok.pad_token_id
        source = {"shape_of": cand.hub_id, "seed": seed, "built_on": device, "tokenizer": str(tokenizer_dir)}
        _save_entry(final, model, tok, source=source)
        del model
        return final, time.perf_counter() - t0


def resolve(request: RunRequest, device: str, data_texts: list[str], data_id: str) -> ResolvedWeights:
    cand = request.candidate
    if request.weights == "shape":
        one_time: dict[str, float] = {}
        real_tok, access = cached_tokenizer_dir(cand)
        if real_tok is not None:
            where = "the model's folder" if is_local_ref(cand.hub_id) else f"HF cache, {access}"
            tok_dir, tok_desc, kind = real_tok, f"real tokenizer of {cand.hub_id} ({where})", "real"
        else:
            vocab = int(cand.shape_config.get("vocab_size", 32000))
            t0 = time.perf_counter()
            tok_dir, tok_desc = trained_tokenizer(data_texts, data_id, vocab)
            tok_desc = f"stand-in: {tok_desc} (no real tokenizer of {cand.hub_id} was reachable)"
            kind = "stand-in"
            print(f"warning: {cand.name}: {tok_desc}; sequence lengths are not the model's", flush=True)
            one_time["tokenizer_train_s"] = time.perf_counter() - t0
        model_dir, built = build_shape(request, device, tok_dir)
        if built is not None:
            one_time["shape_build_s"] = built
        return ResolvedWeights(
            model_dir=model_dir,
            tokenizer_dir=model_dir,
            source=f"shape:{cand.name}:{shape_config_hash(cand, request.train.seed)}",
            tokenizer_desc=tok_desc,
            one_time=one_time,
            seed=request.train.seed,
            hub_access=access,
            tokenizer_kind=kind,
        )
    if cand.weights == "gguf-package":
        folder, seconds = convert_gguf(cand)
        one = {"weights_conversion_s": seconds} if seconds is not None else {}
        assert cand.gguf is not None
        return ResolvedWeights(
            model_dir=folder,
            tokenizer_dir=folder,
            source=f"gguf:{cand.gguf.package}/{cand.gguf.file}",
            tokenizer_desc=f"converted from the GGUF file, eos fixed to {cand.gguf.eos_token}",
            one_time=one,
        )
    folder, access = find_real(request)
    local = request.weights_path or is_local_ref(cand.hub_id)
    src = f"local:{folder}" if local else f"hub:{cand.hub_id}"
    return ResolvedWeights(
        model_dir=folder, tokenizer_dir=folder, source=src, tokenizer_desc=f"real ({src})", hub_access=access
    )
